"""Replica groups and data volumes: the rules, and the rollout order Fleet wires into the graph."""

from __future__ import annotations

import pytest

from fabric import FabricConfigError
from fabric.stateful import group_members, rollout_waits

from .conftest import deep_merge, fabric_from, good_raw


def test_members_roll_in_stack_file_order_one_at_a_time_by_default() -> None:
    fabric = fabric_from(good_raw()[0])
    assert group_members(fabric.intent.containers) == {"dns": ["dns-1", "dns-2"], "database": ["db-1"]}
    assert rollout_waits(fabric.intent) == {"dns-2": "dns-1"}


def test_max_unavailable_k_makes_member_i_wait_for_member_i_minus_k() -> None:
    raw, _ = good_raw()
    containers = {
        f"dns-{i}": {
            "vmid": 110 + i,
            "hostname": f"dns-{i}",
            "node": "pve1",
            "nic": {"network": "lan", "address": f"10.10.0.{30 + i}"},
            "group": "dns",
        }
        for i in range(3, 6)
    }
    patch = {"groups": {"dns": {"maxUnavailable": 2, "sameNodeReason": "lab: one node only"}}, "containers": containers}
    fabric = fabric_from(deep_merge(raw, patch))
    assert rollout_waits(fabric.intent) == {"dns-3": "dns-1", "dns-4": "dns-2", "dns-5": "dns-3"}


def test_a_stated_reason_lets_members_share_a_node() -> None:
    raw, _ = good_raw()
    with pytest.raises(FabricConfigError):
        fabric_from(deep_merge(raw, {"containers": {"dns-2": {"node": "pve1"}}}))
    fabric = fabric_from(
        deep_merge(
            raw,
            {"containers": {"dns-2": {"node": "pve1"}}, "groups": {"dns": {"sameNodeReason": "single-node lab"}}},
        )
    )
    assert fabric.intent.containers["dns-2"].node == "pve1"


def test_a_protected_stack_may_not_let_a_whole_group_go_down() -> None:
    raw, _ = good_raw()
    with pytest.raises(FabricConfigError) as caught:
        fabric_from(deep_merge(raw, {"protected": True, "groups": {"dns": {"maxUnavailable": 2}}}))
    assert caught.value.paths == ["groups.dns.maxUnavailable"]
    # Unprotected stacks (labs) may choose speed over availability.
    fabric_from(deep_merge(raw, {"groups": {"dns": {"maxUnavailable": 2}}}))


def test_mount_points_default_to_backed_up_on_the_node_storage() -> None:
    fabric = fabric_from(good_raw()[0])
    pgdata, wal = fabric.intent.containers["db-1"].mount_points
    assert (pgdata.name, pgdata.path, pgdata.size_gb, pgdata.datastore, pgdata.backup) == (
        "pgdata",
        "/var/lib/postgresql",
        20,
        "local-zfs",
        True,
    )
    assert wal.datastore is None and wal.backup is False


def test_accepting_an_empty_volume_is_off_unless_the_stack_file_says_true() -> None:
    raw = good_raw()[0]
    assert not any(m.accept_empty for m in fabric_from(raw).intent.containers["db-1"].mount_points)
    mounts = [dict(m) for m in raw["containers"]["db-1"]["mountPoints"]]
    mounts[0]["acceptEmpty"] = True
    fabric = fabric_from(deep_merge(raw, {"containers": {"db-1": {"mountPoints": mounts}}}))
    assert [m.accept_empty for m in fabric.intent.containers["db-1"].mount_points] == [True, False]
    mounts[0]["acceptEmpty"] = "yes"  # no coercion: only a YAML boolean accepts the loss
    with pytest.raises(FabricConfigError, match=r"containers\.db-1\.mountPoints\.0\.acceptEmpty"):
        fabric_from(deep_merge(raw, {"containers": {"db-1": {"mountPoints": mounts}}}))
