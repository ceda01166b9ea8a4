"""The engine's processes die with it: SIGKILL to the ``pulumi`` CLI alone, as the OOM killer or a lost
runner sends it, must leave nothing the engine started running (docs/engine.md, "Processes that die
with their engine").

The other faults kill the run's whole process group; here only the CLI dies, so every process it
started has to notice by itself: the language host and the program it runs, both providers, and the
command a provider is running. "Started by the engine" is read from ``/proc``
(``tests.processes.Tracked``): whatever is in the run's session, and every descendant of the CLI,
followed after the kill by pid and start time.

Runs after tests/faults/test_faults.py on the same fabric (file order), or alone on a fresh one.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

from fabric.runtime.ansible_run import RUN_MARKER
from fabric.runtime.controller_client import SOCKET_ENV
from tests.processes import Proc, Tracked, environ, processes

from .conftest import CONTAINERS, ROW, ROWS, FaultFabric, FaultRow

EXIT_S = 10.0
"""How long the engine's processes may outlive it (each looks for its engine once a second)."""
KINDS = {
    "language host": ("pulumi-language-python ",),
    "program": ("pulumi-language-python-exec",),
    "command provider": ("providers.command", "pulumi-resource-command"),
    "proxmoxve provider": ("pulumi-resource-proxmoxve",),
}


def configuring(project: Path) -> bool:
    """Is this project's warm controller running a configuration batch (an ``ansible-playbook``)?

    Every process the controller starts carries its socket, under the project, in its environment."""
    return any(
        "ansible-playbook" in p.cmdline and environ(p.pid).get(SOCKET_ENV, "").startswith(f"{project}/")
        for p in processes()
    )


def run_dirs(procs: list[Proc]) -> set[str]:
    """The private directories of the Ansible runs among ``procs``, which a killed run leaves behind."""
    return {d for p in procs if (d := environ(p.pid).get(RUN_MARKER, ""))}


def missing_kinds(started: list[Proc]) -> list[str]:
    """The kinds of ``KINDS`` that no process of ``started`` is."""
    return [kind for kind, needles in KINDS.items() if not any(n in p.cmdline for p in started for n in needles)]


def test_killing_the_cli_alone_leaves_nothing_it_started_running(faults: FaultFabric) -> None:
    faults.set_config("policies.dns.vars.fault_round", "cli-alone")  # the dns policy runs again
    log = faults.project / "killed-cli-alone.log"
    with log.open("w") as out:
        proc = faults.start_up(out)
        engine = Tracked(proc.pid)
        try:
            give_up = time.monotonic() + 600
            while not configuring(faults.project):
                assert proc.poll() is None, f"the apply ended (exit {proc.returncode}):\n{log.read_text()[-3000:]}"
                assert time.monotonic() < give_up, f"no configuration ran:\n{log.read_text()[-3000:]}"
                engine.refresh()
                time.sleep(0.1)
            started = engine.refresh()
            missing = missing_kinds(started)
            listed = "\n".join(map(str, started))
            assert not missing, f"not running at the kill: {missing}; the run's processes:\n{listed}"

            os.kill(proc.pid, signal.SIGKILL)  # the CLI alone
            proc.wait()
            killed = time.monotonic()
            while (left := engine.refresh()) and time.monotonic() - killed < EXIT_S:
                time.sleep(0.2)
            gone_s = time.monotonic() - killed
            assert not left, f"{EXIT_S:.0f} s after the CLI was killed, still running:\n" + "\n".join(map(str, left))
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            dirs = run_dirs(engine.refresh())
            engine.kill_all()  # the session (as reap_session) and what left it
            for d in dirs:
                shutil.rmtree(d, ignore_errors=True)

    seconds = faults.recover_up()
    if faults.row() is None:  # run alone: this was the fabric's first apply, and the row is written now
        faults.attach(CONTAINERS["db-1"], "sh", "-c", f"echo '{ROW.strip()}' > /var/lib/postgresql/row")
    faults.assert_converged()
    phase = f"configuration running; everything the engine started gone {gone_s:.1f} s after"
    ROWS.append(FaultRow("SIGKILL to the CLI alone", phase, True, faults.lost(), seconds))
