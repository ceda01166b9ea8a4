"""The stack runner's recovery decisions, without the engine: locks, pending creates, lost data volumes.

The fault tier (tests/faults/) proves the same paths end to end on the real engine and real LXC.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

import pytest

from fabric.errors import InputError
from fabric.tokens import COMMAND, CONTAINER, DATA_VOLUME, HA
from ops.stack import locks
from ops.stack.recovery import complete_creates, resolve
from ops.stack.volume_check import check_volumes, state_volumes
from providers.pve_api import PveApiError

CT_URN = f"urn:pulumi:prod::samakia-fabric::samakia:fabric:Fleet$samakia:fabric:LxcContainer${CONTAINER}::db-1"
CFG_URN = f"urn:pulumi:prod::samakia-fabric::samakia:fabric:ConfigPolicy${COMMAND}::db-1-config"
HA_URN = f"urn:pulumi:prod::samakia-fabric::samakia:fabric:LxcContainer${HA}::db-1-ha"


class FakePve:
    """Answers GETs from a dict of path -> data (a path it does not know is a PVE 404)."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers

    def get(self, path: str, **_: Any) -> Any:
        if path not in self.answers:
            raise PveApiError(f"GET {path}: 404", 404)
        return self.answers[path]


CT_INPUTS = {
    "vmId": 3201,
    "nodeName": "pve1",
    "tags": ["database", "prod"],
    "initialization": {"hostname": "db-1", "ipConfigs": [{"ipv4": {"address": "10.30.0.21/24"}}]},
}
CT_CONFIG = {
    "hostname": "db-1",
    "tags": "database;prod",
    "net0": "name=eth0,bridge=vmbr0,ip=10.30.0.21/24,gw=10.30.0.1",
}


def state(*ops: tuple[str, str, str, dict[str, Any]]) -> dict[str, Any]:
    return {
        "deployment": {
            "pending_operations": [
                {"type": kind, "resource": {"urn": urn, "type": typ, "inputs": inputs}}
                for kind, urn, typ, inputs in ops
            ]
        }
    }


def pve_with(vmid: int | None, cfg: dict[str, Any] | None = None) -> FakePve:
    resources = [{"vmid": vmid, "node": "pve1", "type": "lxc"}] if vmid else []
    answers: dict[str, Any] = {"/cluster/resources": resources, "/cluster/ha/resources": []}
    if vmid:
        answers[f"/nodes/pve1/lxc/{vmid}/config"] = cfg or CT_CONFIG
    return FakePve(answers)


def test_a_container_the_killed_run_created_and_provably_ours_is_adopted() -> None:
    res = resolve(state(("creating", CT_URN, CONTAINER, CT_INPUTS)), lambda: pve_with(3201))  # type: ignore[arg-type,return-value]
    assert res.imports == [(CT_URN, "3201")] and not res.cleared
    # Completed in the checkpoint (complete_creates), then read back: no pending create is dropped.
    assert res.refresh_args() == ["refresh", "--yes", "--skip-preview"]


def test_a_create_that_never_happened_and_every_command_are_cleared() -> None:
    pending = state(
        ("creating", CT_URN, CONTAINER, CT_INPUTS), ("creating", CFG_URN, COMMAND, {}), ("deleting", HA_URN, HA, {})
    )
    res = resolve(pending, lambda: pve_with(None))  # type: ignore[arg-type,return-value]
    assert res.cleared == [CT_URN, CFG_URN] and not res.imports
    assert res.others == ["deleting of db-1-ha"]
    assert res.refresh_args()[-1] == "--clear-pending-creates"


@pytest.mark.parametrize(
    ("field", "cfg"),
    [
        ("hostname", {**CT_CONFIG, "hostname": "someone-elses"}),
        ("tags", {**CT_CONFIG, "tags": "database"}),
        ("address", {**CT_CONFIG, "net0": "name=eth0,ip=10.30.0.99/24"}),
    ],
)
def test_a_vmid_taken_by_a_container_that_is_not_ours_stops_the_run_and_deletes_nothing(
    field: str, cfg: dict[str, Any]
) -> None:
    with pytest.raises(InputError) as stopped:
        resolve(state(("creating", CT_URN, CONTAINER, CT_INPUTS)), lambda: pve_with(3201, cfg))  # type: ignore[arg-type,return-value]
    message = str(stopped.value)
    assert "VMID 3201" in message and field in message and "deletes nothing" in message


def test_no_pending_operation_means_no_refresh() -> None:
    res = resolve({"deployment": {}}, lambda: pytest.fail("PVE is not asked"))  # type: ignore[arg-type,return-value]
    assert not res


# ------------------------------------------------------------------ locks


def write_lock(root: Path, stack: str, **body: Any) -> Path:
    folder = root.joinpath(*locks.LOCK_DIR, "samakia-fabric", stack)
    folder.mkdir(parents=True, exist_ok=True)
    doc = folder / "0f2c.json"
    doc.write_text(
        json.dumps({"pid": 4242, "username": "ci", "hostname": "runner-7", "timestamp": "2026-12-04T03:00:00Z", **body})
    )
    return doc


def test_the_file_backends_lock_is_found_with_who_holds_it(tmp_path: Path) -> None:
    doc = write_lock(tmp_path, "prod")
    found = locks.find_locks({"PULUMI_BACKEND_URL": f"file://{tmp_path}"}, "samakia-fabric", "prod")
    assert found == [locks.StackLock(str(doc), 4242, "ci", "runner-7", "2026-12-04T03:00:00Z")]
    assert locks.find_locks({"PULUMI_BACKEND_URL": f"file://{tmp_path}"}, "samakia-fabric", "other") == []


def test_only_a_lock_of_a_dead_process_on_this_host_is_stale() -> None:
    here = socket.gethostname()
    dead = locks.StackLock("l", 4242, "ci", here, "t")
    assert dead.stale(alive=lambda _: False)
    assert not dead.stale(alive=lambda _: True)
    assert not locks.StackLock("l", 4242, "ci", "runner-7", "t").stale(alive=lambda _: False), (
        "another host: not provable"
    )
    assert not locks.engine_alive(os.getpid()), "a live pid that is no engine holds no lock"


def test_a_lock_that_may_be_live_stops_the_run_saying_what_to_do() -> None:
    held = [locks.StackLock("file:///state/.pulumi/locks/x.json", 4242, "ci", "runner-7", "2026-12-04T03:00:00Z")]
    with pytest.raises(InputError) as stopped:
        locks.stale_or_stop("prod", held, this_host="this-host")
    message = str(stopped.value)
    assert "runner-7" in message and "pid 4242" in message and "make unlock STACK=prod" in message
    assert "docs/runbooks/locks.md" in message
    assert locks.stale_or_stop("prod", [], this_host="this-host") is False


def test_another_backend_plugs_in_its_own_finder() -> None:
    seen = []

    def gcs_locks(backend_url: str, project: str, stack: str) -> list[locks.StackLock]:
        seen.append((backend_url, project, stack))
        return []

    locks.register("gs", gcs_locks)
    try:
        assert locks.find_locks({"PULUMI_BACKEND_URL": "gs://state-bucket"}, "samakia-fabric", "prod") == []
        assert seen == [("gs://state-bucket", "samakia-fabric", "prod")]
    finally:
        del locks.FINDERS["gs"]  # a scheme nobody else registers: the real s3 finder stays


# ------------------------------------------------------------------ data volumes

VOLID = "local-zfs:subvol-9000-db-1-pgdata"


def volume_state() -> dict[str, Any]:
    request = {"node": "pve1", "storage": "local-zfs", "owner": 9000, "container": "db-1", "name": "pgdata"}
    res = {
        "urn": f"urn:pulumi:prod::samakia-fabric::{DATA_VOLUME}${COMMAND}::db-1-pgdata",
        "type": COMMAND,
        "parent": f"urn:pulumi:prod::samakia-fabric::{DATA_VOLUME}::db-1-pgdata",
        "inputs": {"stdin": json.dumps(request)},
        "outputs": {"stdout": VOLID + "\n"},
    }
    return {"deployment": {"resources": [res]}}


def test_a_volume_still_on_its_storage_needs_nothing() -> None:
    pve = FakePve({"/nodes/pve1/storage/local-zfs/content": [{"volid": VOLID}]})
    assert check_volumes(volume_state(), lambda: pve, set) == []  # type: ignore[arg-type,return-value]


def test_a_lost_volume_stops_the_apply_naming_it_unless_the_stack_file_accepts_it_empty() -> None:
    gone = FakePve({"/nodes/pve1/storage/local-zfs/content": []})
    with pytest.raises(InputError) as stopped:
        check_volumes(volume_state(), lambda: gone, set)  # type: ignore[arg-type,return-value]
    assert VOLID in str(stopped.value) and "db-1" in str(stopped.value) and "acceptEmpty" in str(stopped.value)
    (vol,) = state_volumes(volume_state())
    assert check_volumes(volume_state(), lambda: gone, lambda: {("db-1", "pgdata")}) == [vol]  # type: ignore[arg-type,return-value]
    # A node that does not answer holds no volume either.
    assert check_volumes(volume_state(), lambda: FakePve({}), lambda: {("db-1", "pgdata")}) == [vol]  # type: ignore[arg-type,return-value]


def test_an_adopted_create_is_completed_in_the_checkpoint_after_what_it_depends_on(tmp_path: Path) -> None:
    provider = "urn:pulumi:prod::samakia-fabric::pulumi:providers:proxmoxve::pve"
    parent = "urn:pulumi:prod::samakia-fabric::samakia:fabric:Fleet$samakia:fabric:LxcContainer::db-1"
    template = "urn:pulumi:prod::samakia-fabric::proxmoxve:download/file:File::base-pve1"
    other = "urn:pulumi:prod::samakia-fabric::command:local:Command::unrelated"
    pending = {"urn": CT_URN, "type": CONTAINER, "inputs": CT_INPUTS, "parent": parent, "provider": f"{provider}::p1"}
    pending["dependencies"] = [template]
    checkpoint = {
        "version": 3,
        "deployment": {
            "resources": [{"urn": provider, "id": "p1"}, {"urn": parent}, {"urn": template}, {"urn": other}],
            "pending_operations": [
                {"type": "creating", "resource": pending},
                {"type": "creating", "resource": {"urn": CFG_URN}},
            ],
        },
    }
    imported: list[dict[str, Any]] = []

    class Recorder:
        def pulumi(self, *args: str, **_: Any) -> None:
            assert args[:3] == ("stack", "import", "--file")
            imported.append(json.loads(Path(args[3]).read_text()))

    complete_creates(Recorder(), checkpoint, [(CT_URN, "3201")])  # type: ignore[arg-type]
    (written,) = imported
    urns = [r["urn"] for r in written["deployment"]["resources"]]
    assert urns == [provider, parent, template, CT_URN, other]
    adopted = written["deployment"]["resources"][3]
    assert adopted["id"] == "3201" and adopted["outputs"] == CT_INPUTS
    # Only the adopted create leaves the pending list; the cleared ones go with the refresh after.
    assert [o["resource"]["urn"] for o in written["deployment"]["pending_operations"]] == [CFG_URN]


def test_an_adopted_replacement_takes_the_place_of_the_deleted_resource_it_replaces() -> None:
    # Delete-before-replace: the old container was deleted and stays in the checkpoint marked
    # pendingReplacement until its replacement is created; the adopted replacement takes its place.
    old = {"urn": CT_URN, "id": "3201", "pendingReplacement": True}
    checkpoint = {
        "deployment": {
            "resources": [old],
            "pending_operations": [{"type": "creating", "resource": {"urn": CT_URN, "inputs": CT_INPUTS}}],
        }
    }
    imported: list[dict[str, Any]] = []

    class Recorder:
        def pulumi(self, *args: str, **_: Any) -> None:
            imported.append(json.loads(Path(args[3]).read_text()))

    complete_creates(Recorder(), checkpoint, [(CT_URN, "3201")])  # type: ignore[arg-type]
    (resource,) = imported[0]["deployment"]["resources"]
    assert resource["id"] == "3201" and "pendingReplacement" not in resource
    assert imported[0]["deployment"]["pending_operations"] == []
