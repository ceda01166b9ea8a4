"""The workflows pass actionlint, and each is a thin caller of make targets any CI can run."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

from tests.pipeline.conftest import ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def _actionlint(bin_dir: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(bin_dir / "actionlint"), "-no-color"], cwd=cwd, capture_output=True, text=True, check=False
    )


def test_the_workflows_pass_actionlint(tools_bin: Path) -> None:
    result = _actionlint(tools_bin, ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_a_broken_workflow(tools_bin: Path, tmp_path: Path) -> None:
    wf = tmp_path / ".github" / "workflows"
    wf.mkdir(parents=True)
    (wf / "bad.yml").write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo ${{ github.event.nosuch.title }}\n        shell: bsh\n"
    )
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    result = _actionlint(tools_bin, tmp_path)
    assert result.returncode == 1
    assert "bad.yml" in result.stdout


def _run_lines(workflow: Path) -> list[str]:
    body = yaml.safe_load(workflow.read_text())
    lines = []
    for job in body["jobs"].values():
        for step in job.get("steps", []):
            lines += [ln.strip() for ln in str(step.get("run", "")).splitlines() if ln.strip()]
    return lines


def test_every_run_step_calls_make_or_a_ci_tool() -> None:
    """Logic lives in make targets; a workflow only wires secrets and artifacts to them."""
    allowed = re.compile(r"^(make |umask |printf |echo |gh )")
    for workflow in WORKFLOWS:
        odd = [ln for ln in _run_lines(workflow) if not allowed.match(ln)]
        assert not odd, f"{workflow.name}: {odd}"


def test_pr_and_apply_jobs_are_separated() -> None:
    """Distinct runner labels; apply behind a protected environment; PR jobs see no apply secret."""
    pr = yaml.safe_load((ROOT / ".github" / "workflows" / "pr.yml").read_text())
    main = yaml.safe_load((ROOT / ".github" / "workflows" / "main.yml").read_text())
    pr_labels = {label for job in pr["jobs"].values() for label in job["runs-on"]}
    apply_job = main["jobs"]["apply"]
    assert apply_job["environment"] == "production"
    assert "samakia-apply" in apply_job["runs-on"] and "samakia-apply" not in pr_labels
    secrets = {name: set(re.findall(r"secrets\.(\w+)", wf.read_text())) for name, wf in _named().items()}
    assert secrets["pr.yml"] == {"PROXMOX_PREVIEW_TOKEN", "PULUMI_CONFIG_PASSPHRASE"}  # read-only, no deploy key
    assert "PROXMOX_APPLY_TOKEN" in secrets["main.yml"]
    assert not any("PROXMOX_APPLY_TOKEN" in found for name, found in secrets.items() if name != "main.yml")
    apply_env = str(apply_job["steps"])
    assert "PROXMOX_APPLY_TOKEN" in apply_env  # ... and only in the job behind the protected environment
    assert "PROXMOX_APPLY_TOKEN" not in str(main["jobs"]["checks"])


def _named() -> dict[str, Path]:
    return {wf.name: wf for wf in WORKFLOWS}


def test_the_blast_radius_gate_reads_the_prs_labels_and_reruns_when_they_change() -> None:
    """The override label reaches the gate, and adding it to a blocked PR runs the gate again."""
    pr = yaml.safe_load(_named()["pr.yml"].read_text())
    events = pr[True]["pull_request"]["types"]  # YAML reads the key `on` as True
    assert {"labeled", "unlabeled", "synchronize"} <= set(events)
    (gate,) = [s for s in pr["jobs"]["plan"]["steps"] if "make blast-radius" in str(s.get("run", ""))]
    assert gate["env"]["LABELS"] == "${{ join(github.event.pull_request.labels.*.name, ',') }}"
    assert 'LABELS="$LABELS"' in gate["run"]


def test_images_are_checked_on_the_pr_and_published_only_from_main() -> None:
    """An image PR builds twice and compares with no secret; only main's `images` job publishes, before apply."""
    named = _named()
    images = yaml.safe_load(named["images.yml"].read_text())
    assert images[True]["pull_request"]["paths"] == ["images/**"]  # YAML reads the key `on` as True
    assert "make images-ci BASE=origin/main" in " ".join(_run_lines(named["images.yml"]))
    assert not re.findall(r"secrets\.(\w+)", named["images.yml"].read_text())
    main = yaml.safe_load(named["main.yml"].read_text())
    job = main["jobs"]["images"]
    assert "PUBLISH=1" in str(job["steps"]) and "SAMAKIA_IMAGE_PUBLISH_TOKEN" in str(job["steps"])
    assert "images" in main["jobs"]["apply"]["needs"]  # the mirror has the image before anything applies it
    publishers = [n for n, wf in named.items() if "SAMAKIA_IMAGE_PUBLISH_TOKEN" in wf.read_text()]
    assert publishers == ["main.yml"]
