"""A refused reviewed plan ends with the readable summary too (the records fabric, after the faults).

The project is made a Git checkout because plans are keyed by its tree. The plan is made with
no changes, then PVE changes behind it (dns-1's memory), so the engine's plan check refuses the
apply. The output ends naming the resource whose step the plan does not allow, with what to do,
and shows no traceback; nothing was applied.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ops.stack.reviewed import EXIT_REFUSED, apply_plan, save_plan

from .conftest import STACK, ChaosFabric


def _git(project: Path, *args: str) -> None:
    cmd = ["git", "-c", "user.name=ci", "-c", "user.email=ci@example.invalid", "-c", "commit.gpgsign=false", *args]
    subprocess.run(cmd, cwd=project, check=True, capture_output=True, text=True)


def test_a_refused_plan_ends_with_the_summary_and_no_traceback(
    records: ChaosFabric, capfd: pytest.CaptureFixture[str]
) -> None:
    project = records.project
    (project / ".gitignore").write_text(".state/\nplans/\ncatalog.chaos.yaml\n")
    _git(project, "init", "-q", "-b", "main")
    _git(project, "add", "-A")
    _git(project, "commit", "-q", "-m", "the reviewed code")
    assert save_plan(records.ws, project / "plans") == 0
    memory = int(records.api.get("/nodes/pve1/lxc/1101/config")["memory"])
    records.api.put("/nodes/pve1/lxc/1101/config", memory=memory + 256)  # PVE changes after the review
    capfd.readouterr()
    assert apply_plan(records.ws, project / "plans" / STACK) == EXIT_REFUSED
    out, err = capfd.readouterr()
    tail = out.rstrip().splitlines()[-3:]
    assert tail[0].startswith("apply-plan refused: reality or code moved since the plan was reviewed"), tail
    assert tail[0].endswith("nothing was applied): 1 resource(s)"), tail
    assert tail[1].startswith("  - container dns-1: engine: ") and "plan" in tail[1], tail
    assert (
        tail[2]
        == f"  next: investigate the change, then re-run the PR check (`make plan STACK={STACK}`) for a new plan"
    )
    assert "Traceback (most recent call last)" not in out + err
    assert int(records.api.get("/nodes/pve1/lxc/1101/config")["memory"]) == memory + 256  # nothing applied
    assert records.up() == (True, "")  # the stack file wins again
    records.assert_converged()
