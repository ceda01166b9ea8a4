"""A stack per site through the pipeline: which stacks a change affects, one preview and comment per
stack on the PR, and one apply per stack on main, one at a time, each in its own concurrency group."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from ops.stack.sites import Outcome, affected, apply_each, changed_since, deployable, report
from tests.pipeline.conftest import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"


def _wf(name: str) -> dict[str, object]:
    return dict(yaml.safe_load((WORKFLOWS / name).read_text()))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """Two production sites (one with an intent file), prod, and a local stack."""
    (tmp_path / "Pulumi.yaml").write_text("name: samakia-fabric\n")
    (tmp_path / "Pulumi.prod.yaml").write_text("config: {}\n")
    (tmp_path / "Pulumi.west.yaml").write_text("config: {}\n")
    (tmp_path / "Pulumi.east.yaml").write_text("config:\n  fabric:intentFiles: [intent/east/web.yaml]\n")
    (tmp_path / "Pulumi.local-site-a.yaml").write_text("config: {}\n")
    return tmp_path


def test_a_change_affects_the_stacks_that_read_it(project: Path) -> None:
    assert deployable(project) == ["east", "prod", "west"]
    assert affected(["Pulumi.east.yaml"], project) == ["east"]
    assert affected(["intent/east/web.yaml", "Pulumi.west.yaml"], project) == ["east", "west"]
    assert affected(["sites/shared.yaml"], project) == ["east", "prod", "west"]  # shared: every site
    assert affected(["fabric/container.py", "Pulumi.east.yaml"], project) == ["east", "prod", "west"]
    assert affected(["docs/sites.md", "README.md", "Pulumi.local-site-a.yaml"], project) == []


def test_the_changed_paths_come_from_git_and_an_unknown_base_means_every_stack(project: Path) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=project, check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "base")
    git("checkout", "-q", "-b", "change")
    (project / "Pulumi.west.yaml").write_text("config: {fabric:protected: true}\n")
    git("add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "west")
    changed = changed_since("main", project)
    assert changed is not None and "Pulumi.west.yaml" in changed
    assert changed_since("0000000000000000000000000000000000000000", project) is None


def test_one_sites_failure_leaves_the_others_applied_and_reported() -> None:
    applied: list[str] = []

    def apply_one(stack: str) -> int:
        if stack == "east":
            raise RuntimeError("the east cluster is unreachable")
        applied.append(stack)
        return 3 if stack == "north" else 0

    outcomes = apply_each(["east", "north", "west"], apply_one)
    assert applied == ["north", "west"]  # after east failed, the others ran, in order
    assert outcomes == [Outcome("east", 2), Outcome("north", 3), Outcome("west", 0)]
    text = report(outcomes)
    assert text.splitlines()[0] == "1 of 3 stack(s) applied; FAILED: east, north"
    assert "  west: applied" in text and "  east: FAILED (exit 2)" in text


def test_the_pr_previews_and_comments_once_per_affected_stack() -> None:
    pr = _wf("pr.yml")
    jobs = pr["jobs"]
    assert isinstance(jobs, dict)
    assert "make --silent affected-stacks" in str(jobs["stacks"]["steps"])
    plan = jobs["plan"]
    assert plan["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.stacks.outputs.stacks) }}"
    assert plan["strategy"]["fail-fast"] is False
    assert plan["env"]["STACK"] == "${{ matrix.stack }}"
    runs = [str(s.get("run", "")) for s in plan["steps"]]
    assert 'make plan STACK="$STACK"' in runs and 'make pr-comment STACK="$STACK"' in runs
    artifact = next(s for s in plan["steps"] if s.get("uses", "").startswith("actions/upload-artifact"))
    assert artifact["with"]["name"] == "plan-${{ matrix.stack }}-${{ steps.key.outputs.tree }}"


def test_main_applies_each_stack_alone_in_its_own_concurrency_group() -> None:
    main = _wf("main.yml")
    assert "concurrency" not in main  # no global group: one per stack, on the apply job
    jobs = main["jobs"]
    assert isinstance(jobs, dict)
    apply = jobs["apply"]
    assert apply["strategy"]["max-parallel"] == 1 and apply["strategy"]["fail-fast"] is False
    assert apply["concurrency"] == {"group": "apply-${{ matrix.stack }}", "cancel-in-progress": False}
    assert "stacks" in apply["needs"] and "images" in apply["needs"]
    report_step = apply["steps"][-1]
    assert report_step["if"] == "always()" and "GITHUB_STEP_SUMMARY" in report_step["run"]
    assert 'make apply-plan STACK="$STACK" PLAN="plans/$STACK"' in str(apply["steps"])
