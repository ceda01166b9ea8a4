"""The local Proxmox's fault injection, over HTTP, as a client sees it (containers as API records).

Each fault is checked in the shape upstream's client reads (bpg ``proxmox/api/client.go``,
``validateResponseCode``: the status, its reason and the JSON ``message``; ``proxmox/nodes/tasks/tasks.go``:
a task's ``exitstatus`` and its log's ``TASK ERROR:`` line), and the schedule is shown to be
seeded (the same seed disturbs the same calls) and off by default.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from ops.localpve.chaos_schedule import BackupLock, ChaosSchedule, Unreachable
from ops.localpve.server import RunningPve
from providers.pve_api import PveApi, PveApiError
from tests.lane import loopback

HOST = loopback(32)
TEMPLATE = "local:vztmpl/debian-12-standard.tar.zst"


@pytest.fixture
def pve(tmp_path: Path) -> Iterator[RunningPve]:
    running = RunningPve(tmp_path / "pve", "chaos-test", host=HOST).start()
    running.call(lambda: running.pve.store_file("local", "debian-12-standard.tar.zst", 1024, content="vztmpl"))
    running.call(lambda: running.pve.add_ct(101, "ct101", node="pve1", status="running"))
    running.call(lambda: running.pve.add_ct(102, "ct102", node="pve2", status="running"))
    try:
        yield running
    finally:
        running.stop(save=False)


def api(pve: RunningPve) -> PveApi:
    return PveApi(pve.url, str(pve.cafile), username="root@pam", password="chaos-test")


def raw(pve: RunningPve, client: PveApi, method: str, path: str, **data: str) -> requests.Response:
    return client.session.request(method, client.url + path, data=data or None, verify=client.verify, timeout=30)


def chaos(pve: RunningPve, schedule: ChaosSchedule) -> None:
    pve.call(lambda: pve.pve.start_chaos(schedule))


def test_off_by_default_nothing_is_injected(pve: RunningPve) -> None:
    client = api(pve)
    for _ in range(30):
        assert client.get("/nodes/pve1/lxc/101/status/current")["status"] == "running"
    assert pve.pve.chaos_ledger is None and pve.pve.injected() == []


def test_a_transient_500_has_pves_status_reason_and_message(pve: RunningPve) -> None:
    client = api(pve)
    chaos(pve, ChaosSchedule(seed=1, transient_rate=1.0, limit=1))
    answer = raw(pve, client, "PUT", "/nodes/pve1/lxc/101/config", memory="640")
    assert answer.status_code == 500
    message = answer.json()["message"]
    assert message.endswith("\n") and answer.json()["data"] is None
    assert answer.reason == message.strip()  # upstream strips the reason off the message's first line
    assert message.strip() in {
        "can't lock file '/run/lock/lxc/pve-config-101.lock' - got timeout",
        "unable to read file '/etc/pve/nodes/pve1/lxc/101.conf'",
        "cfs-lock 'file-user_cfg' error: got lock request timeout",
    }
    # The limit is reached: the next call goes through, the change lands.
    client.put("/nodes/pve1/lxc/101/config", memory="640")
    assert int(client.get("/nodes/pve1/lxc/101/config")["memory"]) == 640
    assert [i.kind for i in pve.pve.stop_chaos()] == ["transient"]


def test_the_same_seed_disturbs_the_same_calls_and_another_seed_others(pve: RunningPve) -> None:
    def disturbed(seed: int) -> list[str]:
        client = api(pve)
        chaos(pve, ChaosSchedule(seed=seed, transient_rate=0.3, transient_methods=("GET",)))
        for vmid, node in ((101, "pve1"), (102, "pve2")) * 10:
            try:
                client.get(f"/nodes/{node}/lxc/{vmid}/status/current")
            except PveApiError as err:
                assert err.status == 500
        return [f"{i.what} {i.message}" for i in pve.pve.stop_chaos()]

    first, again, other = disturbed(7), disturbed(7), disturbed(8)
    assert first == again and 0 < len(first) < 20
    assert first != other


def test_an_unreachable_node_answers_595_for_its_window_then_recovers(pve: RunningPve) -> None:
    client = api(pve)
    chaos(pve, ChaosSchedule(unreachable=Unreachable("pve2", after=1, calls=3)))
    outcomes = []
    for _ in range(6):
        answer = raw(pve, client, "GET", "/nodes/pve2/lxc/102/status/current")
        outcomes.append(answer.status_code)
        if answer.status_code == 595:
            assert answer.json()["message"] == "No route to host\n"
    assert outcomes == [200, 595, 595, 595, 200, 200]
    assert client.get("/nodes/pve1/lxc/101/status/current")["status"] == "running"  # pve1 was never cut off


def test_a_restarting_pveproxy_resets_the_connection(pve: RunningPve) -> None:
    client = api(pve)
    chaos(pve, ChaosSchedule(unreachable=Unreachable(None, after=0, calls=1, how="reset")))
    with pytest.raises(requests.ConnectionError):
        raw(pve, client, "GET", "/nodes/pve1/lxc/101/status/current")
    assert api(pve).get("/nodes/pve1/lxc/101/status/current")["status"] == "running"


def test_a_failed_create_is_accepted_then_ends_task_error_and_leaves_nothing(pve: RunningPve) -> None:
    client = api(pve)
    chaos(pve, ChaosSchedule(failed_rate=1.0, failed_types=("vzcreate",)))
    upid = client.post("/nodes/pve1/lxc", vmid=201, ostemplate=TEMPLATE, hostname="ct201", rootfs="local-lvm:4")
    assert str(upid).startswith("UPID:pve1:") and ":vzcreate:201:" in upid  # accepted
    status = client.get(f"/nodes/pve1/tasks/{upid}/status")
    expected = "unable to create CT 201 - cfs-lock 'storage-local-lvm' error: got lock request timeout"
    assert status["status"] == "stopped" and status["exitstatus"] == expected
    log = [line["t"] for line in client.get(f"/nodes/pve1/tasks/{upid}/log")]
    assert log[-1] == f"TASK ERROR: {expected}"
    assert 201 not in client.containers()  # PVE removes what a failed create had locked


def test_a_slow_task_runs_on_after_the_api_accepted_it(pve: RunningPve) -> None:
    client = api(pve)
    chaos(pve, ChaosSchedule(slow_rate=1.0, slow_seconds=1.5, slow_types=("vzcreate",)))
    start = time.monotonic()
    upid = client.post("/nodes/pve1/lxc", vmid=202, ostemplate=TEMPLATE, hostname="ct202", rootfs="local-lvm:4")
    assert time.monotonic() - start < 1.0, "the API answers at once"
    assert client.get(f"/nodes/pve1/tasks/{upid}/status")["status"] == "running"
    assert client.wait("pve1", upid, timeout=10)["exitstatus"] == "OK"
    assert time.monotonic() - start >= 1.5
    assert client.containers()[202]["config"]["hostname"] == "ct202"


def test_a_backup_locks_the_container_names_its_holder_and_ends(pve: RunningPve) -> None:
    client = api(pve)
    chaos(pve, ChaosSchedule(backup=BackupLock(101, 2.0)))
    assert client.get("/nodes/pve1/lxc/101/status/current")["lock"] == "backup"
    running = [t for t in client.get("/nodes/pve1/tasks", source="active") if t.get("type") == "vzdump"]
    assert [(t["id"], t["user"]) for t in running] == [("101", "root@pam")]
    refused = raw(pve, client, "PUT", "/nodes/pve1/lxc/101/config", memory="768")
    assert refused.status_code == 500 and refused.json()["message"].strip() == "CT is locked (backup)"
    assert client.get("/nodes/pve2/lxc/102/status/current").get("lock") is None  # only the one container
    deadline = time.monotonic() + 10
    while client.get("/nodes/pve1/lxc/101/status/current").get("lock") and time.monotonic() < deadline:
        time.sleep(0.2)
    client.put("/nodes/pve1/lxc/101/config", memory="768")  # the backup ended: the change goes through
    assert int(client.get("/nodes/pve1/lxc/101/config")["memory"]) == 768
