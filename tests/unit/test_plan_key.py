"""The reviewed plan's key: what `make plan` writes is what `make apply-plan` accepts, for this tree only."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ops.stack.reviewed import PlanRefused, check_plan, checkout_key, write_key


def _repo(path: Path) -> Path:
    path.mkdir()
    for args in (["init", "-q"], ["config", "user.email", "t@example.invalid"], ["config", "user.name", "t"]):
        subprocess.run(["git", *args], cwd=path, check=True)
    (path / "f.txt").write_text("one\n")
    subprocess.run(["git", "add", "f.txt"], cwd=path, check=True)
    subprocess.run(["git", "commit", "-qm", "one"], cwd=path, check=True)
    return path


def _saved_plan(repo: Path, plan: Path, stack: str = "local") -> Path:
    plan.mkdir()
    (plan / "plan.json").write_text("{}")
    write_key(plan / "meta.json", checkout_key(repo, stack))
    return plan


def test_a_key_written_by_make_plan_is_accepted_for_its_tree(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "repo")
    plan = _saved_plan(repo, tmp_path / "plan")
    assert check_plan(repo, "local", plan) == plan / "plan.json"


def test_another_tree_or_stack_is_refused(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "repo")
    plan = _saved_plan(repo, tmp_path / "plan")
    with pytest.raises(PlanRefused, match="not 'prod'"):
        check_plan(repo, "prod", plan)
    (repo / "f.txt").write_text("two\n")
    subprocess.run(["git", "commit", "-qam", "two"], cwd=repo, check=True)
    with pytest.raises(PlanRefused, match="the code moved since review"):
        check_plan(repo, "local", plan)


def test_a_foreign_meta_file_is_refused(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "repo")
    plan = _saved_plan(repo, tmp_path / "plan")
    (plan / "meta.json").write_text('{"stack": "local"}')
    with pytest.raises(PlanRefused, match="not a plan key written by `make plan`"):
        check_plan(repo, "local", plan)
