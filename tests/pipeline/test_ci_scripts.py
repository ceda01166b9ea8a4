"""The CI scripts against a fake gh: one PR comment created then updated, one drift issue opened,
updated and closed, and the main job finding the plan for its tree or refusing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.pipeline.conftest import ROOT

FAKE = Path(__file__).with_name("fake_gh.py")


@pytest.fixture
def gh(tmp_path: Path) -> Path:
    """A bin dir whose `gh` is the fake; returns the state file."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "gh").write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE}" "$@"\n')
    (bin_dir / "gh").chmod(0o755)
    state = tmp_path / "gh-state.json"
    state.write_text(json.dumps({"comments": [], "issues": [], "artifacts": {}}))
    return state


def run(script: str, args: list[str], state: Path, cwd: Path = ROOT, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "PATH": f"{state.parent / 'bin'}:{os.environ['PATH']}", "FAKE_GH_STATE": str(state)}
    environ["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [str(ROOT / "scripts" / "ci" / script), *args],
        cwd=cwd,
        env={**environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )


def read(state: Path) -> dict[str, Any]:
    return dict(json.loads(state.read_text()))


def _plan(tmp_path: Path, steps: list[dict[str, Any]]) -> Path:
    plan = tmp_path / "plans" / "local"
    plan.mkdir(parents=True)
    (plan / "preview.json").write_text(json.dumps({"steps": steps}))
    (plan / "meta.json").write_text(json.dumps({"stack": "local", "tree": "a" * 40, "commit": "b" * 40, "format": 1}))
    return plan


def test_pr_comment_is_created_once_then_updated(gh: Path, tmp_path: Path) -> None:
    urn = "urn:pulumi:local::samakia-fabric::proxmoxve:index/containerLegacy:ContainerLegacy::dns-1"
    _plan(tmp_path, [{"op": "update", "urn": urn, "diffReasons": ["memory"]}])
    summary = tmp_path / "summary.md"
    first = run(
        "pr-comment.sh", ["local", str(tmp_path / "plans")], gh, PR_NUMBER="7", GITHUB_STEP_SUMMARY=str(summary)
    )
    assert first.returncode == 0, first.stderr
    second = run("pr-comment.sh", ["local", str(tmp_path / "plans")], gh, PR_NUMBER="7")
    assert second.returncode == 0, second.stderr
    state = read(gh)
    assert len(state["comments"]) == 1 and "updated comment 1000" in second.stdout
    assert "dns-1" in state["comments"][0]["body"] and "memory" in state["comments"][0]["body"]
    assert "dns-1" in summary.read_text()
    assert [c[:2] for c in state["calls"]].count(["pr", "comment"]) == 1


def test_drift_issue_opens_updates_and_closes(gh: Path, tmp_path: Path) -> None:
    infra, config = tmp_path / "infra.txt", tmp_path / "config.txt"
    infra.write_text("DRIFT: update dns-1 (memory)\ninfrastructure drift: 1 change(s)\n")
    config.write_text("configuration drift: none\n")
    opened = run("drift-issue.sh", ["prod", "1", "0", str(infra), str(config)], gh)
    assert opened.returncode == 1  # the job fails while drift remains
    again = run("drift-issue.sh", ["prod", "1", "0", str(infra), str(config)], gh)
    assert again.returncode == 1
    (issue,) = read(gh)["issues"]
    assert issue["title"] == "Drift in stack prod" and issue["state"] == "open"
    assert "DRIFT: update dns-1 (memory)" in issue["body"] and "make repair STACK=prod" in issue["body"]
    assert issue["comments"] == ["Still drifting (infrastructure exit 1, configuration exit 0)."]
    infra.write_text("infrastructure drift: none\n")
    clean = run("drift-issue.sh", ["prod", "0", "0", str(infra), str(config)], gh)
    assert clean.returncode == 0, clean.stderr
    (issue,) = read(gh)["issues"]
    assert issue["state"] == "closed"
    # Another stack drifting gets its own issue.
    assert run("drift-issue.sh", ["staging", "0", "2", str(infra), str(config)], gh).returncode == 2
    assert [i["title"] for i in read(gh)["issues"] if i["state"] == "open"] == ["Drift in stack staging"]


def test_drift_issue_masks_secrets(gh: Path, tmp_path: Path) -> None:
    infra, config = tmp_path / "infra.txt", tmp_path / "config.txt"
    infra.write_text("ERROR: login failed with hunter2-passphrase-value\n")
    config.write_text("")
    run(
        "drift-issue.sh",
        ["prod", "2", "0", str(infra), str(config)],
        gh,
        PULUMI_CONFIG_PASSPHRASE="hunter2-passphrase-value",
    )
    (issue,) = read(gh)["issues"]
    assert "hunter2" not in issue["body"] and "***" in issue["body"]


def _repo(tmp_path: Path) -> tuple[Path, str]:
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    (repo / "f").write_text("x")
    subprocess.run([*git, "add", "f"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "x"], cwd=repo, check=True)
    tree = subprocess.run(["git", "rev-parse", "HEAD^{tree}"], cwd=repo, capture_output=True, text=True, check=True)
    return repo, tree.stdout.strip()


def test_fetch_plan_finds_the_artifact_for_this_tree_or_refuses(gh: Path, tmp_path: Path) -> None:
    repo, tree = _repo(tmp_path)
    missing = run("fetch-plan.sh", ["prod", "plans"], gh, cwd=repo)
    assert missing.returncode == 3 and "no plan was reviewed for this tree" in missing.stderr
    artifact = tmp_path / "artifact"
    artifact.mkdir()
    (artifact / "plan.json").write_text("{}")
    state = read(gh)
    state["artifacts"][f"plan-prod-{tree}"] = {"run": 42, "dir": str(artifact)}
    gh.write_text(json.dumps(state))
    found = run("fetch-plan.sh", ["prod", "plans"], gh, cwd=repo)
    assert found.returncode == 0, found.stderr
    assert (repo / "plans" / "prod" / "plan.json").read_text() == "{}"
