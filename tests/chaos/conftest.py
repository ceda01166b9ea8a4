"""The chaos tier's fabrics, the disturbed apply every fault runs through, and the chaos table.

Two small fabrics on networks, loopback addresses and LXC tags of their own (so the tier runs beside
the others), on the real engine with the bridged proxmoxve plugin (bpg's code):

- **records** (``e2e-chaos``): ``dns-1`` (pve1) and ``dns-2`` (pve2), a replica group that rolls
  one member at a time, and ``db-1`` (pve1) with a data volume holding a row; containers are API
  records of the local Proxmox at time scale 0 (what the API faults disturb is the API);
- **lxc** (``e2e-chaos-ssh``): ``dns-1`` and ``dns-2`` as real LXC containers configured over SSH by
  their policy, for the dropped SSH session.

Each seeded apply (``disturbed_apply``) makes one change (a create, an image bump with its
rolling replace, or a config change), puts a seeded schedule in force on the local Proxmox
(``ops.localpve.chaos``), runs the stack runner's ``up`` (what ``make up`` runs), ends the
schedule, and runs ``up`` again if the first failed. Then: exactly the intended containers in PVE
(no orphan, no duplicate), no pending operation and no lock in the state, a refreshed preview
without changes, db-1's row still on its volume. Every run's output is checked for a Python
traceback. Rows of the chaos table are printed at the end of the session; with
``SAMAKIA_WRITE_CHAOS_TABLE=1`` they are also written into docs/reliability.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from fabric.errors import InputError
from ops.localpve.chaos_schedule import ChaosSchedule, Injected
from ops.stack.cli import run_action
from ops.stack.failure_summary import RunFailed
from ops.stack.local import local_fabric
from tests.doc_tables import markdown_table, write_between
from tests.e2e.conftest import ROOT, LocalFabric, make_project, root_api, stack_body
from tests.lane import loopback, lxc_tag, port, subnet

STACK = "e2e-chaos"
PVE_HOST = loopback(31)
MIRROR_PORT = port(8071)
SUBNET = subnet(87)
VOLUME = "local-data:9000/subvol-9000-db-1-pgdata.subvol"
ROW = "id=1 written before the chaos\n"
TABLE_START, TABLE_END = "<!-- chaos-table:start -->", "<!-- chaos-table:end -->"
IMAGES = ("debian12-base@1.0.0", "debian12-base@1.1.0")


@dataclass
class Outcome:
    """One seeded apply under a fault."""

    first_ok: bool
    converged: bool
    seconds: float
    injected: list[Injected]
    orphans: int
    lost: str
    first_error: str = ""


@dataclass
class ChaosRow:
    fault: str
    outcomes: list[Outcome] = field(default_factory=list)

    def cells(self) -> list[str]:
        first = sum(o.first_ok for o in self.outcomes)
        second = sum(o.converged and not o.first_ok for o in self.outcomes)
        lost = sorted({o.lost for o in self.outcomes if o.lost != "nothing"}) or ["nothing"]
        longest = max((o.seconds for o in self.outcomes), default=0.0)
        return [
            self.fault,
            str(len(self.outcomes)),
            str(first),
            str(second),
            ", ".join(lost),
            str(sum(o.orphans for o in self.outcomes)),
            f"{longest:.1f} s",
        ]


ROWS: dict[str, ChaosRow] = {}


def row(fault: str) -> ChaosRow:
    return ROWS.setdefault(fault, ChaosRow(fault))


def records_body() -> dict[str, Any]:
    body = stack_body(SUBNET, PVE_HOST, MIRROR_PORT, "catalog.chaos.yaml")
    config = body["config"]
    for spec in config["fabric:containers"].values():
        spec.pop("policy", None)
    config["fabric:containers"]["dns-1"]["node"] = "pve1"
    del config["fabric:policies"]
    config["fabric:images"] = {"base": IMAGES[0], "db": IMAGES[0]}
    return dict(body)


class ChaosFabric(LocalFabric):
    """A tier fabric with the ways the chaos tier changes it, disturbs it and reads it back."""

    expected: dict[int, str]
    has_row: bool = True

    def edit(self, change: Callable[[dict[str, Any]], None]) -> None:
        """Change Pulumi's working copy of the stack file (as a merged pull request would)."""
        assert self.ws.config_file is not None
        text = self.ws.config_file.read_text()
        salt = [line for line in text.splitlines() if line.startswith("encryptionsalt:")]
        body = yaml.safe_load(text)
        body.pop("encryptionsalt", None)
        change(body["config"])
        self.ws.config_file.write_text(yaml.safe_dump(body, sort_keys=False) + "".join(s + "\n" for s in salt))
        self.expected = {
            int(spec["vmid"]): str(spec["hostname"]) for spec in body["config"]["fabric:containers"].values()
        }

    def containers(self) -> dict[int, str]:
        return {vmid: str(ct["config"].get("hostname")) for vmid, ct in self.api.containers().items()}

    def state(self) -> dict[str, Any]:
        return dict(json.loads(self.pulumi("stack", "export").stdout))

    def pending(self) -> list[dict[str, Any]]:
        return list(self.state()["deployment"].get("pending_operations") or [])

    def row_text(self) -> str | None:
        path = Path(self.pve.call(lambda: self.pve.pve.volume_dir(VOLUME))) / "row"
        return path.read_text() if path.exists() else None

    def write_row(self) -> None:
        path = Path(self.pve.call(lambda: self.pve.pve.volume_dir(VOLUME))) / "row"
        path.write_text(ROW)

    def chaos(self, schedule: ChaosSchedule) -> None:
        self.pve.call(lambda: self.pve.pve.start_chaos(schedule))

    def end_chaos(self) -> list[Injected]:
        injected: list[Injected] = self.pve.call(self.pve.pve.stop_chaos)
        return injected

    def up(self) -> tuple[bool, str]:
        """The stack runner's ``up``; (succeeded, the summary or refusal it ended with)."""
        try:
            assert run_action(self.ws, "up") == 0
        except RunFailed as failed:
            return False, failed.summary
        except InputError as stopped:
            return False, str(stopped)
        return True, ""

    def orphans(self) -> int:
        """Containers in PVE that the stack does not intend, plus intended ones PVE holds twice or not at all."""
        held = self.containers()
        return len(set(held) - set(self.expected)) + sum(1 for v in self.expected if held.get(v) != self.expected[v])

    def assert_converged(self) -> None:
        assert self.containers() == self.expected, "orphaned, doubled or missing containers"
        assert self.pending() == []
        locks = list((self.project / ".state" / "pulumi" / ".pulumi" / "locks").rglob("*.json"))
        assert locks == [], locks
        self.pulumi("preview", "--expect-no-changes", "--refresh")
        if self.has_row:
            assert self.row_text() == ROW

    def lost(self) -> str:
        gone = [name for vmid, name in self.expected.items() if self.containers().get(vmid) != name]
        if self.has_row and self.row_text() != ROW:
            gone.append("db-1's row on its data volume")
        return ", ".join(gone) or "nothing"


def disturbed_apply(
    f: ChaosFabric,
    schedule: ChaosSchedule,
    change: Callable[[dict[str, Any]], None],
    *,
    during: Callable[[], None] | None = None,
) -> Outcome:
    """One seeded apply under ``schedule``; the next run (faults over) if the first failed; checks."""
    f.edit(change)
    f.chaos(schedule)
    start = time.monotonic()
    try:
        if during is not None:
            during()
        first_ok, said = f.up()
    finally:
        injected = f.end_chaos()
    assert injected, f"the schedule injected nothing: {schedule.to_json()}"
    converged, again = (True, "") if first_ok else f.up()
    assert converged, f"the run after the fault did not converge:\n{again}\n(the first run: {said})"
    seconds = time.monotonic() - start
    outcome = Outcome(first_ok, converged, seconds, injected, f.orphans(), f.lost(), said)
    f.assert_converged()
    return outcome


@contextlib.contextmanager
def tier_fabric(
    tmp_path_factory: pytest.TempPathFactory,
    stack: str,
    body: dict[str, Any],
    *,
    pve_host: str,
    mirror_port: int,
    tag: str,
    containers: bool,
) -> Iterator[ChaosFabric]:
    project = make_project(tmp_path_factory, stack, body)
    with local_fabric(
        project,
        stack,
        pve_host=pve_host,
        mirror_port=mirror_port,
        teardown=True,
        lxc_tag=lxc_tag(tag),
        containers=containers,
    ) as (ws, pve):
        fabric = ChaosFabric(ws=ws, pve=pve, api=root_api(ws, pve), project=project)
        fabric.edit(lambda _: None)
        yield fabric


@pytest.fixture(scope="session")
def records(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChaosFabric]:
    """The API-record fabric, applied once without faults, db-1's row written on its volume."""
    with tier_fabric(
        tmp_path_factory, STACK, records_body(), pve_host=PVE_HOST, mirror_port=MIRROR_PORT, tag="x", containers=False
    ) as f:
        assert f.up() == (True, "")
        f.write_row()
        yield f


def table() -> str:
    head = ["fault", "seeds", "converged on the first run", "on the second", "lost", "orphans", "longest to converge"]
    return markdown_table(head, (r.cells() for r in ROWS.values()))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not ROWS:
        return
    terminalreporter.section("chaos table")
    terminalreporter.write_line(table())
    for r in ROWS.values():  # what each seed injected, and how its first run ended
        for n, o in enumerate(r.outcomes, 1):
            faults = "; ".join(f"{i.kind} {i.what} {i.message}".strip() for i in o.injected)
            said = [line.strip() for line in o.first_error.splitlines() if line.startswith("  - ")]
            first = "converged" if o.first_ok else " | ".join(said or o.first_error.splitlines()[:1])
            terminalreporter.write_line(f"  {r.fault} #{n}: {o.seconds:.1f} s; injected: {faults}; first run: {first}")
    if os.environ.get("SAMAKIA_WRITE_CHAOS_TABLE") == "1":
        write_between(ROOT / "docs" / "reliability.md", TABLE_START, TABLE_END, table())
