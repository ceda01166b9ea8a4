"""A node lost for good, without the engine: which containers are lost, what is forgotten with them,
and how the plan summary names the move. tests/e2e/test_prod_shape.py proves the path end to end."""

from __future__ import annotations

from typing import Any

import pytest

from fabric.errors import InputError
from fabric.tokens import COMMAND, CONTAINER, FILE, HA
from ops.stack.lost_nodes import LostResource, Placement, dependents, find_lost, forget
from ops.stack.plan_summary import LOST_KEY, summarize
from tests.unit.test_recovery import FakePve

PARENT = "urn:pulumi:prod::samakia-fabric::samakia:fabric:LxcContainer::dns-2"
CT = f"urn:pulumi:prod::samakia-fabric::samakia:fabric:LxcContainer${CONTAINER}::dns-2"
RELEASE = f"urn:pulumi:prod::samakia-fabric::samakia:fabric:LxcContainer${COMMAND}::dns-2-release"
HA_URN = f"urn:pulumi:prod::samakia-fabric::samakia:fabric:LxcContainer${HA}::dns-2-ha"
CONFIG = f"urn:pulumi:prod::samakia-fabric::samakia:fabric:ConfigPolicy${COMMAND}::dns-2-config"
TEMPLATE = f"urn:pulumi:prod::samakia-fabric::samakia:fabric:Image${FILE}::debian12-base-1.0.0-pve2"
OTHER = f"urn:pulumi:prod::samakia-fabric::samakia:fabric:LxcContainer${CONTAINER}::dns-1"


def state() -> dict[str, Any]:
    return {
        "deployment": {
            "resources": [
                {"urn": PARENT, "type": "samakia:fabric:LxcContainer"},
                {
                    "urn": CT,
                    "type": CONTAINER,
                    "parent": PARENT,
                    "id": "3102",
                    "outputs": {"nodeName": "pve2", "vmId": 3102},
                },
                {"urn": OTHER, "type": CONTAINER, "id": "3101", "outputs": {"nodeName": "pve1", "vmId": 3101}},
                {"urn": RELEASE, "type": COMMAND, "parent": PARENT, "dependencies": [CT]},
                {"urn": HA_URN, "type": HA, "id": "ct:3102", "propertyDependencies": {"resourceId": [CT]}},
                {"urn": CONFIG, "type": COMMAND, "dependencies": [HA_URN]},
            ]
        }
    }


PVE2_DOWN = FakePve({"/nodes": [{"node": "pve1", "status": "online"}, {"node": "pve2", "status": "offline"}]})


def test_a_container_the_stack_file_moved_off_a_dead_node_is_lost() -> None:
    lost = find_lost(
        state(), lambda: PVE2_DOWN, lambda: Placement({"dns-1": "pve1", "dns-2": "pve3"}, frozenset({"pve1", "pve3"}))
    )  # type: ignore[arg-type,return-value]
    assert lost == [LostResource(CT, CONTAINER, "pve2", "pve3", 3102)]


def test_a_node_removed_from_the_cluster_counts_as_down() -> None:
    gone = FakePve({"/nodes": [{"node": "pve1", "status": "online"}]})
    lost = find_lost(state(), lambda: gone, lambda: Placement({"dns-1": "pve1"}, frozenset({"pve1"})))  # type: ignore[arg-type,return-value]
    assert [(c.name, c.moved_to) for c in lost] == [("dns-2", None)]


def test_a_template_on_a_dead_node_is_lost_only_once_the_node_leaves_fabric_nodes() -> None:
    with_template = state()
    with_template["deployment"]["resources"].append(
        {"urn": TEMPLATE, "type": FILE, "id": "local:vztmpl/x", "outputs": {"nodeName": "pve2"}}
    )
    moved = {"dns-1": "pve1", "dns-2": "pve3"}
    with pytest.raises(InputError, match=r"debian12-base-1.0.0-pve2 \(pve2 is still in fabric:nodes\)"):
        find_lost(with_template, lambda: PVE2_DOWN, lambda: Placement(moved, frozenset({"pve1", "pve2", "pve3"})))  # type: ignore[arg-type,return-value]
    lost = find_lost(with_template, lambda: PVE2_DOWN, lambda: Placement(moved, frozenset({"pve1", "pve3"})))  # type: ignore[arg-type,return-value]
    assert {(c.name, c.type) for c in lost} == {("dns-2", CONTAINER), ("debian12-base-1.0.0-pve2", FILE)}


def test_a_container_still_placed_on_a_dead_node_stops_the_run_naming_both() -> None:
    with pytest.raises(InputError, match=r"pve2 do not answer.*dns-2 \(VMID 3102\).*runbooks/lost-node.md"):
        find_lost(
            state(),
            lambda: PVE2_DOWN,
            lambda: Placement({"dns-1": "pve1", "dns-2": "pve2"}, frozenset({"pve1", "pve2"})),
        )  # type: ignore[arg-type,return-value]


def test_nothing_is_lost_while_every_node_answers() -> None:
    up = FakePve({"/nodes": [{"node": n, "status": "online"} for n in ("pve1", "pve2")]})
    assert find_lost(state(), lambda: up, lambda: Placement({}, frozenset())) == []  # type: ignore[arg-type,return-value]


def test_forgetting_takes_every_dependent_and_nothing_else() -> None:
    assert set(dependents(state(), {CT})) == {CT, RELEASE, HA_URN, CONFIG}
    cleaned, dropped = forget(state(), [LostResource(CT, CONTAINER, "pve2", "pve3", 3102)])
    assert [r["urn"] for r in cleaned["deployment"]["resources"]] == [PARENT, OTHER]
    assert {r["urn"] for r in dropped} == {CT, RELEASE, HA_URN, CONFIG}


def test_the_plan_summary_names_a_lost_container_s_move() -> None:
    preview = {
        "steps": [{"op": "create", "urn": CT, "newState": {"inputs": {"nodeName": "pve3"}}}],
        LOST_KEY: [{"urn": CT, "name": "dns-2", "vmid": 3102, "node": "pve2", "movedTo": "pve3"}],
    }
    (change,) = summarize(preview, {}).changes
    assert change.why == "moves pve2 (lost) -> pve3; data: no data volume"


VOLUME_URN = f"urn:pulumi:prod::samakia-fabric::samakia:fabric:DataVolume${COMMAND}::db-1-pgdata"


def with_volume() -> dict[str, Any]:
    request = '{"container": "db-1", "name": "pgdata", "node": "pve2", "storage": "local-data"}'
    s = state()
    s["deployment"]["resources"].append(
        {
            "urn": VOLUME_URN,
            "type": COMMAND,
            "parent": "urn:pulumi:prod::samakia-fabric::samakia:fabric:DataVolume::db-1-pgdata",
            "inputs": {"stdin": request},
            "outputs": {"stdout": "local-data:9000/subvol-9000-db-1-pgdata.subvol"},
        }
    )
    return s


def test_a_data_volume_lost_with_its_node_stops_the_run_unless_accepted_empty() -> None:
    moved = {"dns-1": "pve1", "dns-2": "pve3"}
    nodes = frozenset({"pve1", "pve3"})
    with pytest.raises(InputError, match=r"data volume local-data:9000/subvol-9000-db-1-pgdata.subvol \(db-1"):
        find_lost(with_volume(), lambda: PVE2_DOWN, lambda: Placement(moved, nodes))  # type: ignore[arg-type,return-value]
    accepted = Placement(moved, nodes, frozenset({("db-1", "pgdata")}))
    lost = find_lost(with_volume(), lambda: PVE2_DOWN, lambda: accepted)  # type: ignore[arg-type,return-value]
    assert (VOLUME_URN, COMMAND) in {(c.urn, c.type) for c in lost}


def test_the_plan_summary_says_a_lost_container_s_volume_is_new_and_empty() -> None:
    volume_create = {
        "op": "create",
        "urn": VOLUME_URN,
        "newState": {"inputs": {"stdin": '{"container": "dns-2", "node": "pve3"}'}},
    }
    preview = {
        "steps": [{"op": "create", "urn": CT, "newState": {"inputs": {"nodeName": "pve3"}}}, volume_create],
        LOST_KEY: [{"urn": CT, "name": "dns-2", "vmid": 3102, "node": "pve2", "movedTo": "pve3"}],
    }
    change = next(c for c in summarize(preview, {}).changes if c.name == "dns-2")
    assert "db-1-pgdata is a NEW EMPTY volume on pve3 (the old one was lost with its node)" in change.why
