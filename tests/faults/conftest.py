"""The fault tier's fixture: one small local fabric on real LXC, shared by every fault, and the fault table.

The stack is the local stack cut down to what the faults need, on a network of its own
(10.83.LANE.0/24, its own loopback address and LXC tag, so it runs beside the engine tier):
``dns-1`` on pve2 (configured over SSH by its policy: the "configuration runs" phase) and
``db-1`` on pve1 with a data volume (no policy: its data is a row written on the volume, and an
image bump replaces it). Engine runs are killed with SIGKILL to the CLI's process group (the
engine and what shares its group), as a lost CI runner would be; the language host and each plugin
run in groups of their own and exit by themselves within a second of their engine's death
(``test_processes.py`` kills the CLI alone and proves it); the phase is
made exact by a tripwire on the local PVE (``ops.localpve.tripwire``) or by the policy runner's
process appearing, never by a sleep.

Each test appends its row to the fault table, printed at the end of the session; with
``SAMAKIA_WRITE_FAULT_TABLE=1`` it is also written into docs/reliability.md.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest

from ops.localpve.tripwire import Tripwire
from ops.stack.cli import run_action
from ops.stack.reviewed import policy_args
from tests.doc_tables import markdown_table, write_between
from tests.e2e.conftest import ROOT, LocalFabric, lane_fabric, make_project, stack_body
from tests.lane import loopback, port, subnet
from tests.processes import reap_session

STACK = "e2e-faults"
PVE_HOST = loopback(11)
MIRROR_PORT = port(8089)
SUBNET = subnet(83)
CONTAINERS = {"dns-1": 1101, "db-1": 1201}
VOLUME = "local-data:9000/subvol-9000-db-1-pgdata.subvol"
ROW = "id=1 written before the fault\n"
TABLE_START, TABLE_END = "<!-- fault-table:start -->", "<!-- fault-table:end -->"


@dataclass
class FaultRow:
    fault: str
    phase: str
    converged: bool
    lost: str
    seconds: float


ROWS: list[FaultRow] = []


def fault_body() -> dict[str, Any]:
    body = stack_body(SUBNET, PVE_HOST, MIRROR_PORT, "catalog.faults.yaml")
    config = body["config"]
    containers = config["fabric:containers"]
    del containers["dns-2"]
    containers["dns-1"]["node"] = "pve2"
    del containers["db-1"]["policy"]
    del config["fabric:policies"]["database"]
    config["fabric:images"] = {"base": "debian12-base@1.0.0", "db": "debian12-base@1.0.0"}
    return dict(body)


class FaultFabric(LocalFabric):
    """The shared fabric, with the ways the tier disturbs it and reads it back."""

    def volume_dir(self) -> Path:
        return Path(self.pve.call(lambda: self.pve.pve.volume_dir(VOLUME)))

    def row(self) -> str | None:
        path = self.volume_dir() / "row"
        return path.read_text() if path.exists() else None

    def state(self) -> dict[str, Any]:
        return dict(json.loads(self.pulumi("stack", "export").stdout))

    def pending(self) -> list[dict[str, Any]]:
        return list(self.state()["deployment"].get("pending_operations") or [])

    def arm(self, method: str, suffix: str, *, after: bool = True) -> Tripwire:
        wire: Tripwire = self.pve.call(lambda: self.pve.pve.arm(method, suffix, after=after))
        return wire

    def start_up(self, out: IO[str], args: tuple[str, ...] = ()) -> subprocess.Popen[str]:
        """``pulumi up`` as the stack runner starts it (refreshed, with the policy pack), or ``pulumi
        *args``, in a session of its own, its output into ``out``."""
        args = args or ("up", "--yes", "--skip-preview", "--refresh", *policy_args(self.ws))
        return subprocess.Popen(
            self.ws.argv(*args),
            cwd=self.project,
            env=self.ws.env_for(*args),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )

    def killed_up(
        self, phase: Callable[[subprocess.Popen[str]], bool], timeout: float = 600, args: tuple[str, ...] = ()
    ) -> str:
        """Start ``pulumi up`` as the runner does (or ``pulumi *args``), SIGKILL its process group once
        ``phase`` says so.

        Returns the killed run's output. Fails if the run ends before the phase is reached.
        """
        log = self.project / f"killed-{len(ROWS)}.log"
        with log.open("w") as out:
            proc = self.start_up(out, args)
            try:
                give_up = time.monotonic() + timeout
                while not phase(proc):
                    if proc.poll() is not None:
                        raise AssertionError(
                            f"the apply ended (exit {proc.returncode}) before the phase:\n{log.read_text()[-3000:]}"
                        )
                    if time.monotonic() > give_up:
                        raise AssertionError(f"the phase was not reached in {timeout:.0f}s:\n{log.read_text()[-3000:]}")
                    time.sleep(0.05)
            finally:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        reap_session(proc.pid)
        return log.read_text()

    def recover_up(self) -> float:
        """The next run of the stack runner's ``up`` (``make up``'s action); its wall time."""
        start = time.monotonic()
        assert run_action(self.ws, "up") == 0
        return time.monotonic() - start

    def containers(self) -> dict[int, str]:
        """vmid -> hostname of every container PVE holds."""
        return {vmid: str(ct["config"].get("hostname")) for vmid, ct in self.api.containers().items()}

    def lost(self, expect_row: bool = True) -> str:
        """What the fault lost, as the table says it (the goal: nothing)."""
        gone = [name for name, vmid in CONTAINERS.items() if self.containers().get(vmid) != name]
        if expect_row and self.row() != ROW:
            gone.append("db-1's row on its data volume")
        return ", ".join(gone) or "nothing"

    def assert_converged(self) -> None:
        """Exactly the intended containers (none orphaned or doubled), no pending operation, no lock,
        a preview without changes, the row still on the volume."""
        assert self.containers() == {vmid: name for name, vmid in CONTAINERS.items()}
        lxc = self.pve.pve.lxc
        assert lxc is not None
        assert {v for v, s in lxc.states().items() if s == "RUNNING"} == set(CONTAINERS.values())
        assert self.pending() == []
        locks = list((self.project / ".state" / "pulumi" / ".pulumi" / "locks").rglob("*.json"))
        assert locks == [], locks
        self.pulumi("preview", "--expect-no-changes", "--refresh")
        assert self.row() == ROW


def in_session(sid: int, needle: str) -> bool:
    """Does a process of session ``sid`` run a command line containing ``needle``?"""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if (
                os.getsid(int(proc.name)) == sid
                and needle in (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            ):
                return True
        except (ProcessLookupError, PermissionError, FileNotFoundError):
            continue
    return False


@pytest.fixture(scope="session")
def faults(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultFabric]:
    project = make_project(tmp_path_factory, STACK, fault_body())
    with lane_fabric(FaultFabric, project, stack=STACK, pve_host=PVE_HOST, mirror_port=MIRROR_PORT, tag="f") as f:
        yield f


def table() -> str:
    head = ["fault", "phase", "next apply converged", "lost", "time to converge"]
    rows = ([r.fault, r.phase, "yes" if r.converged else "NO", r.lost, f"{r.seconds:.1f} s"] for r in ROWS)
    return markdown_table(head, rows)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not ROWS:
        return
    terminalreporter.section("fault table")
    terminalreporter.write_line(table())
    if os.environ.get("SAMAKIA_WRITE_FAULT_TABLE") == "1":
        write_between(ROOT / "docs" / "reliability.md", TABLE_START, TABLE_END, table())
