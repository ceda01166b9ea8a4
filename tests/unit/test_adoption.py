"""Adoption by identity, without the engine: which planned creates PVE already holds, and how they are recorded.

The fault tier (tests/faults/) proves it end to end: every kill there leaves no record at all,
since the engine writes the snapshot only when a run ends.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fabric.errors import InputError
from fabric.tokens import COMMAND, CONTAINER, FILE, FLEET, LXC_CONTAINER, UNKNOWN
from ops.stack.adoption import SECRET_SIG, adopt, adoptions, planned_creates, reviewed_creates
from ops.stack.recovery import PveHoldings
from tests.unit.test_recovery import CT_CONFIG, CT_INPUTS, FakePve

PREFIX = "urn:pulumi:prod::samakia-fabric::"
STACK = f"{PREFIX}pulumi:pulumi:Stack::samakia-fabric-prod"
PROVIDER = f"{PREFIX}pulumi:providers:proxmoxve::proxmox"
FLEET_URN = f"{PREFIX}{FLEET}::fleet"
LXC_URN = f"{PREFIX}{FLEET}${LXC_CONTAINER}::db-1"
CT_URN = f"{PREFIX}{FLEET}${LXC_CONTAINER}${CONTAINER}::db-1"
CT2_URN = f"{PREFIX}{FLEET}${LXC_CONTAINER}${CONTAINER}::db-2"
FILE_URN = f"{PREFIX}{FLEET}${FILE}::debian12-base-1.0.0-pve1"
CFG_URN = f"{PREFIX}{FLEET}${COMMAND}::db-1-config"
VOLID = "local:vztmpl/debian12-base_1.0.0_amd64.tar.zst"
FILE_INPUTS = {"nodeName": "pve1", "datastoreId": "local", "contentType": "vztmpl", "fileName": VOLID.split("/")[1]}


def pre(op: str, urn: str, typ: str, parent: str = "", inputs: dict[str, Any] | None = None, **more: Any) -> dict:
    """A ``resourcePreEvent`` as the engine's event log writes it (apitype.StepEventMetadata)."""
    new = {"type": typ, "urn": urn, "id": "", "parent": parent, "inputs": inputs or {}, "outputs": {}, **more}
    return {"sequence": 1, "resourcePreEvent": {"metadata": {"op": op, "urn": urn, "type": typ, "new": new}}}


def first_run(template_known: bool = True) -> list[dict[str, Any]]:
    """The preview after a killed *first* apply: everything is a create, the provider's id unknown."""
    provider_ref = f"{PROVIDER}::{UNKNOWN}"
    ct = {**CT_INPUTS, "operatingSystem": {"templateFileId": VOLID if template_known else UNKNOWN}}
    ct2 = {**CT_INPUTS, "vmId": 3202, "initialization": {"hostname": "db-2"}}
    return [
        pre("create", STACK, "pulumi:pulumi:Stack"),
        pre("create", PROVIDER, "pulumi:providers:proxmoxve", STACK, {"endpoint": "https://127.0.0.1:8006/"}),
        pre("create", FLEET_URN, FLEET, STACK),
        pre("create", FILE_URN, FILE, FLEET_URN, FILE_INPUTS, custom=True, provider=provider_ref),
        pre("create", LXC_URN, LXC_CONTAINER, FLEET_URN),
        pre("create", CT_URN, CONTAINER, LXC_URN, ct, custom=True, provider=provider_ref),
        pre("create", CT2_URN, CONTAINER, LXC_URN, ct2, custom=True, provider=provider_ref),
        pre("create", CFG_URN, COMMAND, FLEET_URN, {"create": "run"}, custom=True),
    ]


def holdings() -> PveHoldings:
    """PVE holding db-1 (VMID 3201, this stack's) and the template; not db-2."""
    return PveHoldings(
        FakePve(
            {
                "/cluster/resources": [{"vmid": 3201, "node": "pve1"}],
                "/nodes/pve1/lxc/3201/config": CT_CONFIG,
                "/nodes/pve1/storage/local/content": [{"volid": VOLID}],
            }
        )  # type: ignore[arg-type]
    )


EMPTY: dict[str, Any] = {"version": 3, "deployment": {"manifest": {}}}


def test_after_a_killed_first_apply_what_pve_holds_is_recorded_with_its_ancestors_first() -> None:
    records = adoptions(EMPTY, planned_creates(first_run()), holdings)
    urns = [r["urn"] for r in records]
    # Parents before children; the provider before what it serves; db-2 (not in PVE) and the
    # command (not adoptable: it runs again) are left to the apply.
    assert urns == [STACK, FLEET_URN, PROVIDER, FILE_URN, LXC_URN, CT_URN]
    by = {r["urn"]: r for r in records}
    provider_id = by[PROVIDER]["id"]
    assert provider_id not in ("", UNKNOWN)
    assert by[FILE_URN]["provider"] == by[CT_URN]["provider"] == f"{PROVIDER}::{provider_id}"
    assert (by[FILE_URN]["id"], by[CT_URN]["id"]) == (VOLID, "3201")
    assert "id" not in by[FLEET_URN] and "custom" not in by[FLEET_URN]


def test_a_create_with_unknown_inputs_waits_for_the_next_preview() -> None:
    records = adoptions(EMPTY, planned_creates(first_run(template_known=False)), holdings)
    assert CT_URN not in [r["urn"] for r in records] and FILE_URN in [r["urn"] for r in records]


def test_nothing_is_adopted_when_pve_holds_nothing_planned_and_pve_is_asked_once_per_kind() -> None:
    asked: list[str] = []

    class Counting(FakePve):
        def get(self, path: str, **kw: Any) -> Any:
            asked.append(path)
            return super().get(path, **kw)

    held = PveHoldings(Counting({"/cluster/resources": [], "/nodes/pve1/storage/local/content": []}))  # type: ignore[arg-type]
    assert adoptions(EMPTY, planned_creates(first_run()), lambda: held) == []
    assert sorted(asked) == ["/cluster/resources", "/nodes/pve1/storage/local/content"]


def test_what_the_state_already_holds_is_left_alone() -> None:
    provider = {"urn": PROVIDER, "id": "p1", "custom": True}
    state = {"deployment": {"resources": [{"urn": STACK}, provider, {"urn": FLEET_URN}, {"urn": FILE_URN}]}}
    events = [e for e in first_run() if e["resourcePreEvent"]["metadata"]["urn"] not in (STACK, FLEET_URN, FILE_URN)]
    for e in events:  # the provider exists: the creates name its real id
        new = e["resourcePreEvent"]["metadata"]["new"]
        if new.get("provider"):
            new["provider"] = f"{PROVIDER}::p1"
    records = adoptions(state, planned_creates(events), holdings)
    assert [r["urn"] for r in records] == [LXC_URN, CT_URN]
    assert records[1]["provider"] == f"{PROVIDER}::p1"


def test_a_container_under_the_vmid_that_is_not_this_stacks_stops_the_run() -> None:
    def other() -> PveHoldings:
        answers = {"/cluster/resources": [{"vmid": 3201, "node": "pve1"}]}
        answers["/nodes/pve1/lxc/3201/config"] = {**CT_CONFIG, "hostname": "someone-else"}  # type: ignore[dict-item]
        answers["/nodes/pve1/storage/local/content"] = []
        return PveHoldings(FakePve(answers))  # type: ignore[arg-type]

    with pytest.raises(InputError, match="someone-else"):
        adoptions(EMPTY, planned_creates(first_run()), other)


def test_a_held_create_whose_inputs_hold_a_secret_is_refused_not_guessed() -> None:
    events = first_run()
    ct = events[5]["resourcePreEvent"]["metadata"]["new"]
    ct["inputs"] = {**ct["inputs"], "password": {SECRET_SIG: "1b47061264138c4ac30d75fd1eb44270", "ciphertext": "x"}}
    with pytest.raises(InputError, match="secret"):
        adoptions(EMPTY, planned_creates(events), holdings)


def test_a_reviewed_plans_preview_document_gives_the_same_creates() -> None:
    steps = []
    for e in first_run():
        meta = e["resourcePreEvent"]["metadata"]
        steps.append({"op": meta["op"], "urn": meta["urn"], "newState": meta["new"]})
    from_events, from_plan = planned_creates(first_run()), reviewed_creates({"steps": steps})
    assert from_events.creates == from_plan.creates and from_events.named == from_plan.named


def test_adopt_imports_the_checkpoint_once_and_counts_only_what_pve_held(tmp_path: Path) -> None:
    imported: list[dict[str, Any]] = []

    class Ws:
        def pulumi(self, *args: str, **_: Any) -> Any:
            if args[:2] == ("stack", "export"):
                return type("R", (), {"stdout": json.dumps(EMPTY)})()
            assert args[:3] == ("stack", "import", "--file")
            imported.append(json.loads(Path(args[3]).read_text()))
            return None

    said: list[str] = []
    held = holdings()
    assert adopt(Ws(), planned_creates(first_run()), lambda: held.pve, said.append) == 2  # type: ignore[arg-type]
    (written,) = imported
    resources = written["deployment"]["resources"]
    assert {r["urn"] for r in resources} == {STACK, FLEET_URN, PROVIDER, FILE_URN, LXC_URN, CT_URN}
    seen: set[str] = set()
    for r in resources:  # what the import's integrity check demands: what each needs comes before it
        assert r.get("parent", STACK) in seen | {STACK}
        assert not r.get("provider") or r["provider"].rsplit("::", 1)[0] in seen
        seen.add(r["urn"])
    assert (
        next(r for r in resources if r["urn"] == CT_URN)["outputs"]
        == next(r for r in resources if r["urn"] == CT_URN)["inputs"]
    )  # until the refresh reads the real ones
    assert written["deployment"]["manifest"] == {} and written["version"] == 3
    assert any("adopting db-1 (id 3201)" in line for line in said)


def test_a_preview_without_an_adoptable_create_costs_no_export_and_no_pve_call() -> None:
    class Untouched:
        def pulumi(self, *args: str, **_: Any) -> Any:
            raise AssertionError(f"pulumi {args} was run")

    commands_only = [e for e in first_run() if e["resourcePreEvent"]["metadata"]["type"] not in (FILE, CONTAINER)]
    assert adopt(Untouched(), planned_creates(commands_only), lambda: pytest.fail("PVE was asked")) == 0  # type: ignore[arg-type]
