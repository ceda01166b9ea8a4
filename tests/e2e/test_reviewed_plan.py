"""The reviewed plan is the applied plan: `plan` then `apply-plan`, against the local Proxmox.

Three cases, as the pipeline meets them: the saved plan applies exactly; a change made in PVE
after the review refuses; a change of the code after the review refuses (at the engine's plan
check when the key still matches, and at the key check when the commit moved). A refusal applies
nothing. Runs on the shared fabric from empty and leaves it empty, without config policies so that
each apply stays short; the project is made a Git checkout because plans are keyed by tree.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from ops.stack.reviewed import EXIT_REFUSED, apply_plan, save_plan
from ops.stack.workspace import working_config

from .conftest import STACK, LocalFabric

CONTAINERS = {"dns-1": 1101, "dns-2": 1102, "db-1": 1201}


def _git(project: Path, *args: str) -> str:
    cmd = ["git", "-c", "user.name=ci", "-c", "user.email=ci@example.invalid", "-c", "commit.gpgsign=false", *args]
    return subprocess.run(cmd, cwd=project, check=True, capture_output=True, text=True).stdout.strip()


def _commit_stack(f: LocalFabric, edit: dict[str, object] | None = None) -> None:
    """Edit the committed stack file, commit it, and let Pulumi's working copy take it."""
    path = f.project / f"Pulumi.{STACK}.yaml"
    body = yaml.safe_load(path.read_text())
    for name in CONTAINERS:
        body["config"]["fabric:containers"][name].pop("policy", None)
    for key, value in (edit or {}).items():
        container, field = key.split(".")
        body["config"]["fabric:containers"][container][field] = value
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    _git(f.project, "add", "-A")
    _git(f.project, "commit", "-q", "--allow-empty", "-m", "stack change")
    working_config(f.project, STACK, f.project / ".state")


@pytest.fixture(scope="module")
def reviewed(fabric: LocalFabric) -> Iterator[LocalFabric]:
    stack_file = fabric.project / f"Pulumi.{STACK}.yaml"
    original = stack_file.read_text()
    (fabric.project / ".gitignore").write_text(".state/\nplans/\ncatalog.e2e.yaml\n")
    _git(fabric.project, "init", "-q", "-b", "main")
    _commit_stack(fabric)
    yield fabric
    fabric.pulumi("destroy", "--yes")
    stack_file.write_text(original)  # the next module starts from the shared stack, empty
    working_config(fabric.project, STACK, fabric.project / ".state")


def _plan(f: LocalFabric) -> Path:
    assert save_plan(f.ws, f.project / "plans") == 0, f.logs[-1:]
    return f.project / "plans" / STACK


def _memory(f: LocalFabric, vmid: int) -> int:
    return int(f.api.containers()[vmid]["config"]["memory"])


def test_a_saved_plan_applies_exactly(reviewed: LocalFabric, capsys: pytest.CaptureFixture[str]) -> None:
    plan = _plan(reviewed)
    preview = json.loads((plan / "preview.json").read_text())
    planned = {s["urn"].rsplit("::", 1)[-1] for s in preview["steps"] if s["op"] == "create"}
    assert set(CONTAINERS) <= planned
    meta = json.loads((plan / "meta.json").read_text())
    assert meta["tree"] == _git(reviewed.project, "rev-parse", "HEAD^{tree}") and meta["stack"] == STACK
    assert apply_plan(reviewed.ws, plan) == 0, capsys.readouterr().out[-3000:]
    assert set(reviewed.api.containers()) == set(CONTAINERS.values())
    reviewed.pulumi("preview", "--refresh", "--expect-no-changes")


def test_a_change_in_pve_after_review_refuses_and_applies_nothing(
    reviewed: LocalFabric, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = _plan(reviewed)  # reviewed: no changes
    reviewed.api.put("/nodes/pve1/lxc/1101/config", memory=2048)  # someone changes PVE after the review
    capsys.readouterr()
    assert apply_plan(reviewed.ws, plan) == EXIT_REFUSED
    out = capsys.readouterr().out
    assert "reality or code moved since the plan was reviewed" in out, out[-3000:]
    assert "dns-1" in out
    assert _memory(reviewed, 1101) == 2048  # the refusal applied nothing


def test_a_code_change_after_review_refuses(reviewed: LocalFabric, capsys: pytest.CaptureFixture[str]) -> None:
    plan = _plan(reviewed)  # reviewed: put dns-1 back to 512 MiB (the drift from the previous case)
    # The config Pulumi reads changes, the commit does not: the engine's plan check refuses.
    reviewed.set_config("containers.db-1.memoryMb", "1536")
    capsys.readouterr()
    assert apply_plan(reviewed.ws, plan) == EXIT_REFUSED
    out = capsys.readouterr().out
    assert "violates plan" in out and "db-1" in out, out[-3000:]
    assert _memory(reviewed, 1201) == 1024 and _memory(reviewed, 1101) == 2048
    # A new commit after the review: refused on the key, before the engine runs.
    _commit_stack(reviewed, {"db-1.memoryMb": 1536})
    capsys.readouterr()
    assert apply_plan(reviewed.ws, plan) == EXIT_REFUSED
    out = capsys.readouterr().out
    assert "the code moved since review" in out
    assert _memory(reviewed, 1201) == 1024
    # The path forward: plan the new commit, apply that.
    assert apply_plan(reviewed.ws, _plan(reviewed)) == 0
    assert _memory(reviewed, 1201) == 1536 and _memory(reviewed, 1101) == 512


def test_a_missing_plan_or_another_stack_refuses(reviewed: LocalFabric, capsys: pytest.CaptureFixture[str]) -> None:
    assert apply_plan(reviewed.ws, reviewed.project / "plans" / "nowhere") == EXIT_REFUSED
    assert "no reviewed plan" in capsys.readouterr().out
    plan = _plan(reviewed)
    meta = json.loads((plan / "meta.json").read_text())
    (plan / "meta.json").write_text(json.dumps(meta | {"stack": "prod"}))
    assert apply_plan(reviewed.ws, plan) == EXIT_REFUSED
    assert "was made for stack 'prod'" in capsys.readouterr().out


def test_a_violating_stack_fails_the_preview_naming_the_policy(
    reviewed: LocalFabric, capsys: pytest.CaptureFixture[str]
) -> None:
    reviewed.set_config("containers.dns-1.unprivileged", "false")  # privileged, with no exception declared
    try:
        capsys.readouterr()
        assert save_plan(reviewed.ws, reviewed.project / "plans") != 0
        plan = reviewed.project / "plans" / STACK
        out = capsys.readouterr().out + (plan / "preview.json").read_text()
        assert "unprivileged-containers" in out and "dns-1 is privileged" in out, out[-3000:]
        assert not (plan / "plan.json").exists()  # nothing to apply
    finally:
        working_config(reviewed.project, STACK, reviewed.project / ".state")
