"""The blast-radius gate on preview JSON: each rule fails naming itself and its resources; the label passes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fabric.tokens import COMMAND, CONTAINER
from ops.stack import plan_summary
from ops.stack.blast_radius import OVERRIDE_LABEL, StackShape, findings, rollout_order, shape_of

P = "urn:pulumi:prod::samakia-fabric::samakia:fabric:Fleet$"
CT, CMD = CONTAINER, COMMAND
SHAPE = StackShape(
    containers=("dns-1", "dns-2", "db-1", "db-2", "db-3"),
    groups={"dns": ("dns-1", "dns-2"), "database": ("db-1", "db-2", "db-3")},
    max_unavailable={"dns": 1, "database": 1},
)


def urn(typ: str, name: str) -> str:
    parent = "samakia:fabric:LxcContainer$" if typ == CT else "samakia:fabric:DataVolume$"
    return f"{P}{parent}{typ}::{name}"


def replace(name: str, after: str | None = None) -> list[dict[str, Any]]:
    """The steps a delete-before-replace of one container produces, with its new dependencies."""
    deps = [urn(CMD, f"{after}-health")] if after else []
    new = {"inputs": {"vmId": 1}, "dependencies": deps}
    old = {"inputs": {"vmId": 1, "protection": True}}
    return [
        {"op": "delete-replaced", "urn": urn(CT, name), "oldState": old},
        {"op": "create-replacement", "urn": urn(CT, name), "oldState": old, "newState": new},
        {
            "op": "replace",
            "urn": urn(CT, name),
            "oldState": old,
            "newState": new,
            "replaceReasons": ["operatingSystem"],
        },
    ]


def rules(steps: list[dict[str, Any]]) -> dict[str, tuple[str, ...]]:
    return {f.rule: f.resources for f in findings({"steps": steps}, SHAPE)}


def test_a_rolled_group_passes_and_shows_its_order() -> None:
    steps = replace("dns-1") + replace("dns-2", after="dns-1")
    assert rules(steps) == {}
    assert rollout_order(steps, SHAPE) == {"dns-1": "dns 1/2", "dns-2": "dns 2/2 after dns-1"}


def test_a_group_replaced_outside_its_rolling_order_fails_naming_the_members() -> None:
    steps = replace("db-1") + replace("db-2") + replace("db-3", after="db-2")
    assert rules(steps) == {"max-unavailable": ("db-1", "db-2")}
    assert rollout_order(steps, SHAPE)["db-2"] == "database 2/3 NOT after db-1"


def test_waiting_for_the_previous_members_configuration_is_a_rolling_order_too() -> None:
    steps = replace("dns-1") + replace("dns-2")
    steps[-1]["newState"]["dependencies"] = [urn(CMD, "dns-1-config")]
    steps[-2]["newState"]["dependencies"] = [urn(CMD, "dns-1-config")]
    assert rules(steps) == {}
    assert rollout_order(steps, SHAPE)["dns-2"] == "dns 2/2 after dns-1"


def test_max_unavailable_members_may_go_together() -> None:
    shape = StackShape(SHAPE.containers, SHAPE.groups, {"dns": 2, "database": 1})
    steps = replace("dns-1") + replace("dns-2")
    assert findings({"steps": steps}, shape) == []


def test_deleting_a_data_volume_fails() -> None:
    old = {"inputs": {"create": "python3 -m fabric.runtime.volume create", "triggers": []}}
    steps = [{"op": "delete", "urn": urn(CMD, "db-1-pgdata"), "oldState": old}]
    assert rules(steps) == {"data-volume-delete": ("db-1-pgdata",)}
    # Replacing a volume (its node or storage changed) deletes the old one too.
    steps = [{"op": "replace", "urn": urn(CMD, "db-1-pgdata"), "oldState": old, "newState": old}]
    assert rules(steps) == {"data-volume-delete": ("db-1-pgdata",)}


def test_deleting_a_protected_resource_fails_but_replacing_it_does_not() -> None:
    steps = [{"op": "delete", "urn": urn(CT, "db-3"), "oldState": {"inputs": {"protection": True}}}]
    assert rules(steps) == {"protected-delete": ("db-3",)}
    steps = [{"op": "delete", "urn": urn(CMD, "x"), "oldState": {"protect": True, "inputs": {}}}]
    assert rules(steps) == {"protected-delete": ("x",)}
    assert rules(replace("db-3")) == {}


def test_replacing_a_protected_container_for_anything_but_its_image_fails() -> None:
    """A key rotation on one container: upstream re-creates it, so the gate asks for the label."""
    steps = replace("db-3")
    key = {"initialization": {"userAccount": {"keys": ["ssh-ed25519 AAAA new"]}}}
    steps[-1] = {**steps[-1], "replaceReasons": [], "newState": {"inputs": {"vmId": 1, "protection": True, **key}}}
    assert rules(steps) == {"protected-replace": ("db-3 (initialization)",)}
    steps[-1]["oldState"] = {"inputs": {"vmId": 1, "protection": False}}
    steps[-1]["newState"]["inputs"]["protection"] = False
    assert rules(steps) == {}, "an unprotected container may be rebuilt for any reason"


def test_replacing_every_container_of_the_stack_fails_even_when_rolled() -> None:
    steps = replace("dns-1") + replace("dns-2", after="dns-1")
    steps += replace("db-1") + replace("db-2", after="db-1") + replace("db-3", after="db-2")
    assert rules(steps) == {"whole-stack": ("db-1", "db-2", "db-3", "dns-1", "dns-2")}


def _gate(tmp_path: Path, steps: list[dict[str, Any]], *extra: str) -> tuple[int, str]:
    preview = tmp_path / "preview.json"
    preview.write_text(json.dumps({"steps": steps}))
    return plan_summary.main([str(preview), "--stack-file", "Pulumi.prod.yaml", "--strict", *extra]), ""


@pytest.mark.parametrize(
    ("steps", "rule"),
    [
        (replace("db-1") + replace("db-2"), "max-unavailable"),
        (
            [
                {
                    "op": "delete",
                    "urn": urn(CMD, "db-1-pgdata"),
                    "oldState": {"inputs": {"create": "python3 -m fabric.runtime.volume create"}},
                }
            ],
            "data-volume-delete",
        ),
        ([{"op": "delete", "urn": urn(CT, "mon-1"), "oldState": {"inputs": {"protection": True}}}], "protected-delete"),
    ],
)
def test_the_pr_gate_fails_naming_the_rule_and_passes_with_the_label(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], steps: list[dict[str, Any]], rule: str
) -> None:
    code, _ = _gate(tmp_path, steps)
    out = capsys.readouterr().out
    assert code == 1 and f"[{rule}]" in out, out
    code, _ = _gate(tmp_path, steps, "--labels", f"docs,{OVERRIDE_LABEL}")
    out = capsys.readouterr().out
    assert code == 0 and f"[{rule}]" in out and "overridden" in out


def test_the_prod_stack_shape_comes_from_the_stack_file() -> None:
    shape = shape_of(Path("Pulumi.prod.yaml"))
    assert shape.groups["database"] == ("db-1", "db-2", "db-3")
    assert shape.max_unavailable["dns"] == 1
    assert len(shape.containers) == 11
    assert shape.waits_for("db-3") == "db-2" and shape.waits_for("db-1") is None


def test_the_rollout_column_is_in_the_markdown(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    steps = replace("dns-1") + replace("dns-2", after="dns-1")
    code, _ = _gate(tmp_path, steps)
    out = capsys.readouterr().out
    assert code == 0, out
    assert "| rollout |" in out and "dns 2/2 after dns-1" in out
