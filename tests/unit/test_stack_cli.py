"""The stack runner's actions, on a recording workspace: what each make target asks the engine for."""

from __future__ import annotations

import argparse
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ops.stack import cli
from ops.stack.reviewed import EXIT_REFUSED, PlanRefused, checkout_key
from ops.stack.workspace import Workspace

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Recorder(Workspace):
    calls: list[tuple[str, ...]] = field(default_factory=list)

    def pulumi(self, *args: str, check: bool = True, capture: bool = False) -> subprocess.CompletedProcess[str]:
        self.calls.append(args)
        return subprocess.CompletedProcess(list(args), 0, stdout="{}", stderr="")

    def outputs(self) -> dict[str, Any]:
        return {}


def _ws(project: Path = ROOT) -> Recorder:
    return Recorder(project_dir=project, stack="prod", env={})


def _args(**kw: Any) -> argparse.Namespace:
    return argparse.Namespace(**({"out": "plans", "plan": None, "json": False} | kw))


def test_up_and_preview_work_from_refreshed_state_through_the_policy_pack() -> None:
    ws = _ws()
    assert cli.run_action(ws, "up", _args()) == 0
    # What a killed run left is looked at first (ops/stack/prepare.py): here, nothing.
    assert ws.calls[0] == ("stack", "export")
    preview, up = [c for c in ws.calls if c[0] in ("preview", "up")]
    assert preview[0] == "preview" and up[0] == "up"
    for call in (preview, up):
        assert "--refresh" in call
        assert call[call.index("--policy-pack") + 1] == str(ROOT / "policy")
    ws = _ws()
    cli.run_action(ws, "preview", _args())
    # A lost node is looked for first (ops/stack/lost_nodes.py): here, none.
    assert ws.calls[0] == ("stack", "export")
    (preview,) = [c for c in ws.calls if c[0] == "preview"]
    assert preview[:3] == ("preview", "--diff", "--refresh") and "--policy-pack" in preview


def test_apply_plan_without_a_plan_refuses_before_the_engine(tmp_path: Path, capsys: Any) -> None:
    ws = _ws()
    assert cli.run_action(ws, "apply-plan", _args(plan=str(tmp_path / "none"))) == EXIT_REFUSED
    assert ws.calls == [] and "no reviewed plan" in capsys.readouterr().out


def test_plans_are_keyed_by_tree_and_refuse_uncommitted_changes(tmp_path: Path) -> None:
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "Pulumi.prod.yaml").write_text("config: {}\n")
    subprocess.run([*git, "add", "."], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-qm", "a"], cwd=tmp_path, check=True)
    key = checkout_key(tmp_path, "prod")
    tree = subprocess.run(["git", "rev-parse", "HEAD^{tree}"], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert key.tree == tree.stdout.strip() and key.stack == "prod"
    (tmp_path / "Pulumi.prod.yaml").write_text("config: {changed: 1}\n")
    with pytest.raises(PlanRefused, match=r"uncommitted changes \(Pulumi.prod.yaml\)"):
        checkout_key(tmp_path, "prod")


def test_a_reviewed_plan_is_refused_after_an_adoption_and_applied_when_there_is_none(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: Any
) -> None:
    # The plan's checks and the recovery steps are proven elsewhere; here: what follows an adoption.
    monkeypatch.setattr(cli, "check_plan", lambda *_: tmp_path / "plan.json")
    monkeypatch.setattr(cli, "prepare_apply", lambda ws: None)
    monkeypatch.setattr(cli, "apply_plan", lambda ws, plan: 0)
    adopted = {"n": 2}
    monkeypatch.setattr(cli, "adopt_reviewed", lambda ws, plan, api, policy: adopted["n"])
    ws = _ws()
    assert cli.run_action(ws, "apply-plan", _args(plan=str(tmp_path))) == EXIT_REFUSED
    said = capsys.readouterr().out
    assert "2 resource(s) the reviewed plan creates were created by a killed apply" in said
    assert "make plan STACK=prod" in said and ws.calls == []  # nothing applied
    adopted["n"] = 0
    assert cli.run_action(ws, "apply-plan", _args(plan=str(tmp_path))) == 0


def test_down_clears_a_stale_lock_and_destroys_from_refreshed_state(monkeypatch: pytest.MonkeyPatch) -> None:
    cleared: list[str] = []
    monkeypatch.setattr(cli, "clear_stale_lock", lambda ws: cleared.append(ws.stack))
    ws = _ws()
    assert cli.run_action(ws, "down", _args()) == 0
    assert cleared == ["prod"]
    assert ws.calls == [("destroy", "--yes", "--skip-preview", "--refresh")]
