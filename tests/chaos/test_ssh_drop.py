"""An SSH session dropped while Ansible configures a container, on real LXC containers.

The lxc fabric (``e2e-chaos-ssh``): dns-1 and dns-2, each configured over SSH by the dns policy.
Each seed changes a policy variable, so both policies run again, and kills the SSH session of one
member's run on the container's side (its ``sshd: user@...`` process, as a dropped link or an sshd
restart ends it) as soon as Ansible's Python runs in it. The policy run of that container fails, and only
it: the other member's run is not reported failed (the engine starts no new step after the first
failure, so it may not have run yet). The next ``make up`` applies the policy again: unbound is
active on the dropped member after it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from ops.localpve.chaos_schedule import Injected
from tests.e2e.conftest import stack_body
from tests.lane import loopback, port, subnet

from .conftest import ChaosFabric, Outcome, row, tier_fabric

STACK = "e2e-chaos-ssh"
PVE_HOST = loopback(33)
MIRROR_PORT = port(8072)
SUBNET = subnet(91)
MEMBERS = {"dns-1": 1101, "dns-2": 1102}
SESSION = "sshd: [a-z_]+@"
"""An OpenSSH session's privilege-separated process (``sshd: admin@notty``)."""
ANSIBLE = "[(]mitogen:"
"""The Python that Mitogen's bootstrap execs for Ansible's connection (``python3(mitogen:admin@...)``,
``mitogen/parent.py``). The runner's own ``ssh ... true`` login probe opens a session too, but it runs
no Python: dropping that one after it answered would fail nothing, so the fault waits for this."""


def ssh_body() -> dict[str, Any]:
    body = stack_body(SUBNET, PVE_HOST, MIRROR_PORT, "catalog.chaos-ssh.yaml")
    config = body["config"]
    del config["fabric:containers"]["db-1"]
    del config["fabric:policies"]["database"]
    config["fabric:images"] = {"base": "debian12-base@1.0.0", "db": "debian12-base@1.0.0"}
    return dict(body)


@pytest.fixture(scope="module")
def lxc_fabric(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChaosFabric]:
    with tier_fabric(
        tmp_path_factory, STACK, ssh_body(), pve_host=PVE_HOST, mirror_port=MIRROR_PORT, tag="y", containers=True
    ) as f:
        f.has_row = False
        assert f.up() == (True, "")
        yield f


@pytest.fixture(autouse=True)
def no_traceback(capfd: pytest.CaptureFixture[str]) -> Iterator[None]:
    yield
    out, err = capfd.readouterr()
    assert "Traceback (most recent call last)" not in out + err, (out + err)[-4000:]


def drop_the_session(f: ChaosFabric, vmid: int, stop: threading.Event, dropped: list[str]) -> None:
    """Kill the container's SSH sessions as soon as Ansible's runs in one (bounded by ``stop``)."""
    while not stop.is_set():
        found = f.attach(vmid, "pgrep", "-f", SESSION, check=False)
        if found.returncode == 0 and f.attach(vmid, "pgrep", "-f", ANSIBLE, check=False).returncode == 0:
            f.attach(vmid, "pkill", "-KILL", "-f", SESSION, check=False)
            dropped.append(found.stdout.split()[0])
            return
        time.sleep(0.2)


@pytest.mark.parametrize(("seed", "member"), [(1, "dns-1"), (2, "dns-2")])
def test_a_dropped_ssh_session_fails_that_containers_policy_run_only(
    lxc_fabric: ChaosFabric, seed: int, member: str
) -> None:
    f = lxc_fabric
    f.edit(lambda config: config["fabric:policies"]["dns"]["vars"].update(chaos_round=str(seed)))
    stop, dropped = threading.Event(), list[str]()
    watcher = threading.Thread(target=drop_the_session, args=(f, MEMBERS[member], stop, dropped), daemon=True)
    start = time.monotonic()
    watcher.start()
    try:
        first_ok, said = f.up()
    finally:
        stop.set()
        watcher.join(timeout=10)
    assert dropped, "no SSH session of the policy run was seen"
    assert not first_ok, "the dropped session did not fail the run"
    failed = [line for line in said.splitlines() if line.startswith("  - ")]
    assert len(failed) == 1 and failed[0].startswith(f"  - policy run {member}-config: Ansible: "), said
    assert "run `make up STACK=e2e-chaos-ssh` again: it re-applies the policy" in said
    converged = f.up()[0]
    seconds = time.monotonic() - start
    injected = [Injected("ssh-drop", member, f"sshd pid {dropped[0]}")]
    outcome = Outcome(False, converged, seconds, injected, f.orphans(), f.lost(), said)
    f.assert_converged()
    assert converged and outcome.orphans == 0
    # The policy was applied again: the container runs what it configures.
    probe = f.attach(MEMBERS[member], "systemctl", "is-active", "unbound", check=False)
    assert probe.stdout.strip() == "active", probe.stdout + probe.stderr
    row("an SSH session dropped mid-configuration (real LXC; the member's sshd session killed)").outcomes.append(
        outcome
    )


def test_no_ssh_session_is_left_in_the_containers(lxc_fabric: ChaosFabric) -> None:
    for vmid in MEMBERS.values():
        sessions = lxc_fabric.attach(vmid, "pgrep", "-f", SESSION, check=False)
        assert sessions.returncode != 0 or sessions.stdout.strip() == "", sessions.stdout
