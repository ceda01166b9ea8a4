"""The last fault, on the fabric the others leave: ``make down`` killed while it deletes, then ``make down`` again.

The engine writes the snapshot once, when a run ends (ops/stack/workspace.py, ``FAST_ENV``), so the
killed destroy leaves the state believing in a container PVE already deleted. The next ``down``
reads the truth back first (``destroy --refresh``) and deletes the rest: nothing is left in PVE
or in the state.

Runs after tests/faults/test_faults.py and test_processes.py on the same fabric (file order), or
alone on a fresh one.
"""

from __future__ import annotations

import time

from fabric.tokens import CONTAINER
from ops.stack.cli import run_action

from .conftest import CONTAINERS, ROWS, FaultFabric, FaultRow


def test_a_killed_down_is_finished_by_the_next_down(faults: FaultFabric) -> None:
    if set(faults.containers()) != set(CONTAINERS.values()):  # run alone, not after the other faults
        faults.recover_up()
    vmid = CONTAINERS["db-1"]
    wire = faults.arm("DELETE", f"/nodes/pve1/lxc/{vmid}", after=True)  # PVE deletes; the answer never arrives
    faults.killed_up(lambda _: wire.tripped.is_set(), args=("destroy", "--yes", "--skip-preview"))
    wire.release()
    assert vmid not in faults.containers()
    recorded = [r for r in faults.state()["deployment"].get("resources") or [] if r["type"] == CONTAINER]
    assert {r["id"] for r in recorded} == {str(v) for v in CONTAINERS.values()}, "the state still holds db-1"
    start = time.monotonic()
    assert run_action(faults.ws, "down") == 0
    seconds = time.monotonic() - start
    assert faults.containers() == {}
    assert [r["type"] for r in faults.state()["deployment"].get("resources") or []] == []
    assert faults.pending() == []
    ROWS.append(
        FaultRow("SIGKILL during destroy", "db-1 deleted by PVE, the state not written", True, "nothing", seconds)
    )
