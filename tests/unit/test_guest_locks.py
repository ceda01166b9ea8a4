"""Before an apply, a container another Proxmox task holds locked is waited for, then the run stops naming it."""

from __future__ import annotations

from typing import Any

import pytest

from fabric.errors import InputError
from fabric.tokens import CONTAINER
from ops.stack.guest_locks import lock_wait_s, state_containers, wait_for_locks

UPID = "UPID:pve1:000003EA:00001B56:6753A000:vzdump:1201:root@pam:"
STATE = {
    "deployment": {
        "resources": [
            {"urn": "urn:pulumi:s::p::t::db-1", "type": CONTAINER, "outputs": {"vmId": 1201, "nodeName": "pve1"}},
            {"urn": "urn:pulumi:s::p::t::dns-1", "type": CONTAINER, "inputs": {"vmId": 1101, "nodeName": "pve2"}},
            {"urn": "urn:pulumi:s::p::command:local:Command::dns-1-config", "type": "command:local:Command"},
        ]
    }
}


class Pve:
    """db-1 locked by a backup for ``reads`` status reads."""

    def __init__(self, reads: int) -> None:
        self.reads = reads

    def get(self, path: str, **params: Any) -> Any:
        if path == "/nodes/pve1/lxc/1201/status/current":
            self.reads -= 1
            return {"status": "running", "lock": "backup"} if self.reads >= 0 else {"status": "running"}
        if path == "/nodes/pve1/tasks":
            assert params == {"source": "active", "vmid": 1201}
            return [{"id": "1201", "type": "vzdump", "user": "root@pam", "upid": UPID}]
        return {"status": "running"}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_the_state_names_each_container_with_its_node() -> None:
    assert state_containers(STATE) == [("db-1", 1201, "pve1"), ("dns-1", 1101, "pve2")]


def test_a_lock_that_ends_within_the_wait_lets_the_apply_go_on() -> None:
    clock, pve = Clock(), Pve(reads=3)
    logged: list[str] = []
    wait_for_locks(STATE, lambda: pve, 60, logged.append, sleep=clock.sleep, clock=clock)  # type: ignore[arg-type,return-value]
    held = f"db-1 (CT 1201 on pve1) is locked (backup) by task vzdump of root@pam ({UPID})"
    assert logged == [f"waiting (up to 60 s, SAMAKIA_LOCK_WAIT_S): {held}"]
    assert 0 < clock.now < 60


def test_a_lock_longer_than_the_wait_stops_the_run_naming_the_lock_and_its_holder() -> None:
    clock = Clock()
    pve = Pve(reads=1000)
    with pytest.raises(InputError) as stopped:
        wait_for_locks(STATE, lambda: pve, 10, lambda _: None, sleep=clock.sleep, clock=clock)  # type: ignore[arg-type,return-value]
    message = str(stopped.value)
    assert "db-1 (CT 1201 on pve1) is locked (backup) by task vzdump of root@pam" in message and UPID in message
    assert "stopped before changing anything" in message and clock.now == pytest.approx(10)


def test_the_wait_comes_from_the_environment() -> None:
    assert lock_wait_s({}) == 300 and lock_wait_s({"SAMAKIA_LOCK_WAIT_S": "5"}) == 5
    with pytest.raises(InputError, match="number of seconds"):
        lock_wait_s({"SAMAKIA_LOCK_WAIT_S": "soon"})
