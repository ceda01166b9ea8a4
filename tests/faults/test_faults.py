"""Faults on the unplanned paths, on the real engine against the local PVE on real LXC.

The tests run in file order on one fabric (tests/faults/conftest.py): each disturbs it, then the
stack runner's ``up`` (what ``make up`` runs) must converge with no manual step: exit 0, exactly
the intended containers, no pending operation and no lock left, a preview without changes, and
db-1's row, written on its data volume before the fault, still there. Each appends its row to the
fault table.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from fabric.errors import InputError
from fabric.tokens import CONTAINER
from ops.stack.cli import run_action

from .conftest import CONTAINERS, ROW, ROWS, VOLUME, FaultFabric, FaultRow, in_session


def record(f: FaultFabric, fault: str, phase: str, seconds: float, expect_row: bool = True) -> None:
    f.assert_converged() if expect_row else None
    ROWS.append(FaultRow(fault, phase, True, f.lost(expect_row), seconds))


def pending_types(output_state: dict[str, Any]) -> list[tuple[str, str]]:
    ops = output_state["deployment"].get("pending_operations") or []
    return [(o["type"], o["resource"]["urn"].rsplit("::", 1)[-1]) for o in ops]


def test_killed_while_a_container_is_created(faults: FaultFabric) -> None:
    # The first apply: PVE accepts dns-1's create (on pve2) and the engine is killed before the answer.
    wire = faults.arm("POST", "/nodes/pve2/lxc", after=True)
    faults.killed_up(lambda _: wire.tripped.is_set())
    wire.release()
    # The engine writes the snapshot only when a run ends (ops/stack/workspace.py, FAST_ENV): the
    # killed run left no record of the create at all, not even a pending one.
    assert pending_types(faults.state()) == []
    # PVE made the container; the state does not hold it: a plain create would fail on "already exists".
    recorded = faults.state()["deployment"].get("resources") or []
    assert not any(r["urn"].endswith("::dns-1") and r["type"] == CONTAINER for r in recorded)
    seconds = faults.recover_up()
    faults.attach(CONTAINERS["db-1"], "sh", "-c", f"echo '{ROW.strip()}' > /var/lib/postgresql/row")
    record(faults, "SIGKILL during apply", "container being created (first apply)", seconds)


def test_killed_while_its_configuration_runs(faults: FaultFabric) -> None:
    faults.set_config("policies.dns.vars.fault_round", "2")  # the dns policy runs again
    faults.killed_up(lambda proc: in_session(proc.pid, "fabric.runtime.apply_policy"))
    assert pending_types(faults.state()) == []
    seconds = faults.recover_up()
    record(faults, "SIGKILL during apply", "configuration running (Ansible over SSH)", seconds)


def test_killed_between_the_two_halves_of_a_replace(faults: FaultFabric) -> None:
    faults.set_config("images.db", "debian12-base@1.1.0")  # db-1 is replaced: delete, then create
    wire = faults.arm("POST", "/nodes/pve1/lxc", after=False)  # the create never reaches PVE
    faults.killed_up(lambda _: wire.tripped.is_set())
    wire.release()
    assert CONTAINERS["db-1"] not in faults.containers(), "the old db-1 was deleted before the kill"
    seconds = faults.recover_up()
    assert faults.image_of(CONTAINERS["db-1"]) == "debian12-base@1.1.0"
    record(faults, "SIGKILL during apply", "between the two halves of a replace", seconds)


def test_killed_while_the_data_volume_is_attached(faults: FaultFabric) -> None:
    faults.set_config("images.db", "debian12-base@1.0.0")  # rollback: db-1 replaced again
    # The new db-1 is created with the volume as mp0 and started by the create itself (``start=1``,
    # as upstream's create sends it), which mounts it: PVE does the call, the engine is killed
    # before it reads the answer.
    wire = faults.arm("POST", "/nodes/pve1/lxc", after=True)
    faults.killed_up(lambda _: wire.tripped.is_set())
    wire.release()
    assert pending_types(faults.state()) == []
    seconds = faults.recover_up()
    assert faults.image_of(CONTAINERS["db-1"]) == "debian12-base@1.0.0"
    assert str(faults.api.get("/nodes/pve1/lxc/1201/config")["mp0"]).startswith(VOLUME + ",")
    record(faults, "SIGKILL during apply", "data volume being attached (replace)", seconds)


def test_a_lock_left_on_another_host_is_reported_then_cleared_without_losing_state(faults: FaultFabric) -> None:
    faults.set_config("containers.dns-1.memoryMb", "640")
    wire = faults.arm("PUT", f"/nodes/pve2/lxc/{CONTAINERS['dns-1']}/config", after=True)
    faults.killed_up(lambda _: wire.tripped.is_set())
    wire.release()
    locks = list((faults.project / ".state" / "pulumi" / ".pulumi" / "locks").rglob("*.json"))
    assert len(locks) == 1, "the killed apply left its lock"
    # As if the killed run had been on a CI runner that is gone: not provably stale from here.
    body = json.loads(locks[0].read_text())
    locks[0].write_text(json.dumps({**body, "hostname": "ci-runner-lost"}))
    before = faults.state()["deployment"]["resources"]
    with pytest.raises(InputError) as stopped:
        run_action(faults.ws, "up")
    message = str(stopped.value)
    assert "ci-runner-lost" in message and f"pid {body['pid']}" in message and "make unlock" in message
    assert faults.state()["deployment"]["resources"] == before, "a refused run changed nothing"
    # The documented clearing (make unlock): the lock goes, the state stays exactly as it was.
    assert run_action(faults.ws, "unlock") == 0
    assert not list((faults.project / ".state" / "pulumi" / ".pulumi" / "locks").rglob("*.json"))
    assert faults.state()["deployment"]["resources"] == before
    seconds = faults.recover_up()
    assert int(faults.api.get(f"/nodes/pve2/lxc/{CONTAINERS['dns-1']}/config")["memory"]) == 640
    record(faults, "lock left by a killed apply on another host", "update in place; `make unlock`, then apply", seconds)


def test_a_container_deleted_through_the_api_is_rebuilt_with_its_volume(faults: FaultFabric) -> None:
    vmid = CONTAINERS["db-1"]
    faults.api.wait("pve1", faults.api.post(f"/nodes/pve1/lxc/{vmid}/status/stop"))
    faults.api.wait("pve1", faults.api.delete(f"/nodes/pve1/lxc/{vmid}"))
    assert vmid not in faults.containers() and faults.row() == ROW  # PVE kept the volume it does not own
    seconds = faults.recover_up()
    record(faults, "container deleted outside Pulumi", "PVE API (stop, DELETE)", seconds)


def test_a_wiped_node_is_rebuilt_and_its_volume_mounted_again(faults: FaultFabric) -> None:
    vmid = CONTAINERS["db-1"]
    faults.lxc("lxc-stop", "--kill", vmid=vmid)
    faults.lxc("lxc-destroy", vmid=vmid)  # pve1's LXC state gone behind the API's back; its storage kept
    assert vmid not in faults.containers() and faults.row() == ROW
    seconds = faults.recover_up()
    record(faults, "node's LXC state wiped", "pve1 (db-1; its storage kept)", seconds)


def test_a_lost_data_volume_stops_the_apply_until_the_stack_file_accepts_it(faults: FaultFabric) -> None:
    vmid = CONTAINERS["db-1"]
    faults.lxc("lxc-stop", "--kill", vmid=vmid)
    faults.lxc("lxc-destroy", vmid=vmid)
    assert vmid not in faults.containers() and faults.row() == ROW
    # pve1's storage lost with it: the data volume is gone too.
    faults.api.wait("pve1", faults.api.delete(f"/nodes/pve1/storage/local-data/content/{VOLUME}"))
    assert faults.api.get("/nodes/pve1/storage/local-data/content", vmid=9000) == []
    assert faults.row() is None
    with pytest.raises(InputError) as stopped:
        run_action(faults.ws, "up")
    assert VOLUME in str(stopped.value) and "acceptEmpty" in str(stopped.value)
    assert vmid not in faults.containers(), "nothing was applied"
    faults.set_config("containers.db-1.mountPoints[0].acceptEmpty", "true")
    seconds = faults.recover_up()
    assert faults.row() is None and vmid in faults.containers()
    assert str(faults.api.get(f"/nodes/pve1/lxc/{vmid}/config")["mp0"]).startswith(VOLUME + ",")
    # The empty volume is PVE's, under the same id, and it is what the container mounts: a row
    # written inside lands on it (the next fault keeps it).
    listed = faults.api.get("/nodes/pve1/storage/local-data/content", vmid=9000)
    assert [v["volid"] for v in listed] == [VOLUME]
    faults.attach(vmid, "sh", "-c", f"echo '{ROW.strip()}' > /var/lib/postgresql/row")
    assert faults.row() == ROW
    faults.pulumi("config", "rm", "--path", "fabric:containers.db-1.mountPoints[0].acceptEmpty")
    faults.pulumi("preview", "--expect-no-changes", "--refresh")
    assert faults.pending() == []
    ROWS.append(
        FaultRow(
            "node's storage lost",
            "pve1 (db-1 and its volume)",
            True,
            "db-1's volume (the fault's; accepted empty by acceptEmpty)",
            seconds,
        )
    )


def test_a_node_lost_for_good_is_rebuilt_on_a_surviving_node(faults: FaultFabric) -> None:
    """docs/runbooks/lost-node.md on the configured container: pve2 dies with dns-1."""
    vmid = CONTAINERS["dns-1"]
    faults.pve.call(lambda: faults.pve.pve.lose_node("pve2"))
    with pytest.raises(InputError, match=r"pve2 .*dns-1 \(VMID 1101\)"):
        run_action(faults.ws, "up")  # unchanged code: the node may come back, nothing is given up
    # The pull request: pve3 joins fabric:nodes, pve2 leaves it, dns-1 moves.
    faults.set_config("nodes.pve3.templateStorage", "local")
    faults.set_config("nodes.pve3.diskStorage", "local-lvm")
    faults.set_config("containers.dns-1.node", "pve3")
    faults.pulumi("config", "rm", "--path", "fabric:nodes.pve2")
    # PVE's side of the runbook: the dead node is removed from the cluster, freeing its VMIDs.
    faults.pve.call(lambda: faults.pve.pve.remove_node("pve2"))
    seconds = faults.recover_up()
    assert faults.api.containers()[vmid]["node"] == "pve3"
    record(faults, "node lost for good", "pve2 (dns-1, configured over SSH) moved to pve3 by the stack file", seconds)
