"""Proxmox misbehaving during applies, on the real engine with upstream's provider code (bridged).

Each fault runs seeded applies on the records fabric (tests/chaos/conftest.py), in file order, each
with one change: a create (a new container), an image bump (the dns group rolls: dns-1 replaced,
then dns-2), or a config change (every container's memory, in place). A slow or failed task needs
a change that starts one (a create or a bump: a memory change is a synchronous PUT). What
upstream does with each fault, read in bpg v0.112.0:

- a 5xx on a container's create or delete is retried three times, 1 s then 2 s apart, and an
  "already exists" on a retried create counts as done (``proxmox/retry/retry.go``,
  ``NewTaskOperation``, ``IsTransientAPIError``; ``proxmox/nodes/containers/containers.go``);
  a config PUT is retried only on "got timeout" (``UpdateContainer``); a GET gets no retry on a
  5xx, and three quick ones on a broken connection (``proxmox/api/client.go``, ``DoRequest``);
- a task is polled once a second until it stops, and a failed one is not dispatched again: its
  ``TASK ERROR`` is the resource's error (``proxmox/nodes/tasks/tasks.go``, ``WaitForTask``);
- a lock is waited for only after upstream's own config update (``WaitForContainerConfigUnlock``):
  the backup's lock refuses the update first. The runner waits for locks before the engine runs
  (``ops.stack.guest_locks``).

So some faults fail the first run by upstream's design; the next ``make up`` must converge with no
manual step, and nothing may be lost, orphaned or left pending.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ops.localpve.chaos_schedule import BackupLock, ChaosSchedule, Unreachable, draw
from tests.e2e.timeline import record as timeline_of

from .conftest import IMAGES, SUBNET, ChaosFabric, Outcome, disturbed_apply, row

NAMES = {1101: "dns-1", 1102: "dns-2", 1201: "db-1"}
_apps = iter(range(1, 100))


def change_for(kind: str) -> Callable[[dict[str, Any]], None]:
    if kind == "create":
        n = next(_apps)

        def add(config: dict[str, Any]) -> None:
            config["fabric:containers"][f"app-{n}"] = {
                "vmid": 1300 + n,
                "hostname": f"app-{n}",
                "node": "pve2",
                "image": "db",  # the dns group's image bump leaves it alone
                "nic": {"network": "lan", "address": f"{SUBNET}{40 + n}"},
                "tags": ["local"],
            }

        return add
    if kind == "bump":

        def bump(config: dict[str, Any]) -> None:
            config["fabric:images"]["base"] = IMAGES[1] if config["fabric:images"]["base"] == IMAGES[0] else IMAGES[0]

        return bump

    def memory(config: dict[str, Any]) -> None:
        defaults = config["fabric:containerDefaults"]
        defaults["memoryMb"] = 640 if defaults["memoryMb"] == 512 else 512

    return memory


@pytest.fixture(autouse=True)
def no_traceback(capfd: pytest.CaptureFixture[str]) -> Iterator[None]:
    """No run of a test prints a Python traceback (the program's shutdown or the runner's)."""
    yield
    out, err = capfd.readouterr()
    assert "Traceback (most recent call last)" not in out + err, (out + err)[-4000:]


@pytest.mark.parametrize(("seed", "kind"), [(1, "config"), (2, "create"), (3, "bump")])
def test_transient_5xx(records: ChaosFabric, seed: int, kind: str) -> None:
    change = change_for(kind)
    outcome = disturbed_apply(records, ChaosSchedule(seed=seed, transient_rate=0.1, limit=2), change)
    assert outcome.converged and outcome.lost == "nothing" and outcome.orphans == 0
    if not outcome.first_ok:  # upstream gave up on a call it does not retry; the summary says whose
        assert "Proxmox" in outcome.first_error and "next:" in outcome.first_error, outcome.first_error
    row("transient 500s (got timeout, unable to read file, cfs-lock), 10 % of calls, at most 2").outcomes.append(
        outcome
    )


UNREACHABLE = {1: Unreachable("pve1", calls=3), 2: Unreachable(None, calls=2, how="reset")}


@pytest.mark.parametrize(("seed", "kind"), [(1, "bump"), (2, "config")])
def test_unreachable_window(records: ChaosFabric, seed: int, kind: str) -> None:
    change = change_for(kind)
    window = UNREACHABLE[seed]
    after = int(draw(seed, "window", "after", 0) * 18) + 2  # the window opens after 2 to 19 calls
    window = Unreachable(window.node, after=after, calls=window.calls, how=window.how)
    outcome = disturbed_apply(records, ChaosSchedule(seed=seed, unreachable=window), change)
    assert outcome.converged and outcome.lost == "nothing" and outcome.orphans == 0
    row("a node unreachable (595 No route to host for 3 calls; pveproxy resetting 2)").outcomes.append(outcome)


BACKED_UP = {1: 1101, 2: 1201}


@pytest.mark.parametrize(("seed", "kind"), [(1, "config"), (2, "create")])
def test_backup_lock_shorter_than_the_wait(records: ChaosFabric, seed: int, kind: str) -> None:
    change = change_for(kind)
    records.ws.env["SAMAKIA_LOCK_WAIT_S"] = "60"
    try:
        outcome = disturbed_apply(records, ChaosSchedule(seed=seed, backup=BackupLock(BACKED_UP[seed], 5)), change)
    finally:
        del records.ws.env["SAMAKIA_LOCK_WAIT_S"]
    # The runner waits for the backup before the engine runs: the first run converges.
    assert outcome.first_ok and outcome.lost == "nothing" and outcome.orphans == 0, outcome.first_error
    row("a backup holds a container's lock for 5 s (the runner waits up to 60 s)").outcomes.append(outcome)


@pytest.mark.parametrize(("seed", "kind"), [(1, "create"), (2, "bump")])
def test_slow_tasks(records: ChaosFabric, seed: int, kind: str) -> None:
    change = change_for(kind)
    schedule = ChaosSchedule(seed=seed, slow_rate=1.0, slow_seconds=4, limit=2)
    outcome = disturbed_apply(records, schedule, change)
    assert outcome.first_ok and outcome.lost == "nothing" and outcome.orphans == 0, outcome.first_error
    row("slow tasks (a create or a destroy running 4 s more, 2 of them)").outcomes.append(outcome)


@pytest.mark.parametrize(("seed", "kind"), [(1, "create"), (2, "bump")])
def test_a_task_that_fails_after_it_was_accepted(records: ChaosFabric, seed: int, kind: str) -> None:
    change = change_for(kind)
    schedule = ChaosSchedule(seed=seed, failed_rate=1.0, failed_types=("vzcreate",), limit=1)
    outcome = disturbed_apply(records, schedule, change)
    assert not outcome.first_ok and outcome.converged
    (failed,) = outcome.injected
    vmid = int(failed.what.split(":")[1])
    name = records.expected[vmid]
    # One line names the container and Proxmox's message; then what to do.
    line = f"  - container {name}: Proxmox: {failed.message}"
    assert outcome.first_error.splitlines()[:2] == [
        "up of stack e2e-chaos failed: 1 resource(s)",
        line,
    ], outcome.first_error
    assert "run `make up STACK=e2e-chaos` again" in outcome.first_error
    assert outcome.lost == "nothing" and outcome.orphans == 0
    row("a create task fails after it was accepted (TASK ERROR: unable to create CT)").outcomes.append(outcome)


def _group_status(f: ChaosFabric) -> dict[str, bool]:
    held = f.api.get("/cluster/resources", type="vm")
    running = {int(r["vmid"]) for r in held if r.get("status") == "running"}
    return {"dns-1": 1101 in running, "dns-2": 1102 in running}


@pytest.mark.parametrize("seed", [1, 2])
def test_backup_lock_longer_than_the_wait(records: ChaosFabric, seed: int) -> None:
    """The bump would roll the dns group; a backup holds one member longer than the runner waits."""
    locked = (1101, 1102)[seed - 1]
    node = "pve1" if locked == 1101 else "pve2"
    records.edit(change_for("bump"))  # the image bump: dns-1, then dns-2, replaced
    before = records.state()["deployment"]["resources"]
    records.ws.env["SAMAKIA_LOCK_WAIT_S"] = "3"
    records.chaos(ChaosSchedule(seed=seed, backup=BackupLock(locked, 8)))
    start = time.monotonic()
    try:
        with timeline_of(lambda: _group_status(records), interval_s=0.1) as timeline:
            first_ok, said = records.up()
    finally:
        injected = records.end_chaos()
        del records.ws.env["SAMAKIA_LOCK_WAIT_S"]
    assert not first_ok
    holder = f"{NAMES[locked]} (CT {locked} on {node}) is locked (backup) by task vzdump of root@pam (UPID:"
    assert holder in said and "stopped before changing anything" in said, said
    assert records.state()["deployment"]["resources"] == before, "the stopped run changed the state"
    # The group stayed whole: every sample of the run has both members running.
    assert timeline.samples and all(all(ups.values()) for _, ups in timeline.samples), timeline.transitions()
    # The backup ends; the next run rolls the group.
    while records.api.get(f"/nodes/{node}/lxc/{locked}/status/current").get("lock"):
        time.sleep(0.5)
    converged = records.up()[0]
    outcome = Outcome(False, converged, time.monotonic() - start, injected, records.orphans(), records.lost(), said)
    records.assert_converged()
    assert converged and outcome.lost == "nothing" and outcome.orphans == 0
    row("a backup holds a dns member's lock for 8 s, longer than the runner waits (3 s)").outcomes.append(outcome)
