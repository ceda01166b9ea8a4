"""A failed run's summary: each failed resource, whose message, what to do next; no traceback from the program.

The messages are in the shapes the providers give them (upstream's, read in bpg
``proxmox/api/errors.go`` and ``proxmox/nodes/tasks/tasks.go``; the stand-in's; the policy
runner's ``FAILED`` lines). The engine tier's chaos faults check the same summary on real runs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from fabric.cancellation import EXEC_SCRIPT, quiet_when_stopped
from ops.stack.failure_summary import failures, proxmox_message, read_events, render

STACK = "urn:pulumi:e2e-chaos::samakia-fabric::pulumi:pulumi:Stack::samakia-fabric-e2e-chaos"
FLEET = "urn:pulumi:e2e-chaos::samakia-fabric::pulumi:pulumi:Stack$samakia:fabric:Fleet$samakia:fabric:LxcContainer"


def diag(urn: str, message: str, severity: str = "error") -> dict[str, Any]:
    return {"sequence": 1, "diagnosticEvent": {"urn": urn, "message": message, "severity": severity}}


UPSTREAM_TASK = (
    'error creating container: task "UPID:pve1:000003EA:00001B56:6753A000:vzcreate:1201:root@pam:" failed to '
    "complete with exit code: unable to create CT 1201 - cfs-lock 'storage-local-lvm' error: got lock request "
    "timeout\ntask log:\n  TASK ERROR: unable to create CT 1201 - ...\n"
)


def test_a_failed_create_names_the_container_and_proxmoxs_message_in_one_line() -> None:
    events = [
        diag(f"{FLEET}$proxmoxve:index/containerLegacy:ContainerLegacy::db-1", UPSTREAM_TASK),
        diag(STACK, "update failed"),
        diag(STACK, "Traceback (most recent call last):\n  ...\nKeyboardInterrupt"),
    ]
    (found,) = failures(events)
    assert found.line() == (
        "container db-1: Proxmox: unable to create CT 1201 - cfs-lock 'storage-local-lvm' error: "
        "got lock request timeout"
    )
    summary = render("up", "e2e-chaos", [found], "make up STACK=e2e-chaos")
    assert "Traceback" not in summary and "KeyboardInterrupt" not in summary
    assert summary.splitlines()[-1] == (
        "  next: Proxmox was briefly unavailable: run `make up STACK=e2e-chaos` again; it continues from the "
        "refreshed state"
    )


def test_proxmoxs_words_are_found_in_each_providers_shape() -> None:
    upstream_http = "error updating container: received an HTTP 500 response - Reason: CT is locked (backup)"
    standin_http = 'PUT /nodes/pve1/lxc/1201/config: 500 {"data": null, "message": "CT is locked (backup)\\n"}'
    standin_task = "TASK ERROR: startup for container '1201' failed (UPID:pve1:0000:0000:0000:vzstart:1201:root@pam:)"
    assert proxmox_message(upstream_http) == "CT is locked (backup)"
    assert proxmox_message(standin_http) == "CT is locked (backup)"
    assert proxmox_message(standin_task) == "startup for container '1201' failed"
    assert proxmox_message("error: something else entirely") is None


def test_a_failed_policy_run_names_ansibles_task_and_says_the_next_run_re_applies_it() -> None:
    output = (
        "exit status 1: running 'python3 -m fabric.runtime.apply_policy':\nssh path: mitogen\n"
        "dns-1: ok=12 changed=1 unreachable=1 failed=0 skipped=0 rescued=0 ignored=0\n"
        "FAILED baseline : packages present: Connection reset by peer\n"
    )
    (found,) = failures([diag(f"{FLEET}$samakia:fabric:ConfigPolicy$command:local:Command::dns-1-config", output)])
    assert (found.kind, found.name, found.source) == ("policy run", "dns-1-config", "Ansible")
    assert found.message == "baseline : packages present: Connection reset by peer"
    summary = render("up", "s", [found], "make up STACK=s")
    assert "re-applies the policy" in summary


def test_a_lock_says_which_task_holds_it_and_each_resource_is_named_once() -> None:
    locked = "received an HTTP 500 response - Reason: CT is locked (backup)"
    urn = f"{FLEET}$proxmoxve:index/containerLegacy:ContainerLegacy::dns-1"
    found = failures([diag(urn, locked), diag(urn, "second error of the same resource"), diag(urn, "x", "warning")])
    assert [f.message for f in found] == ["CT is locked (backup)"]
    assert "a backup task holds dns-1's lock" in render("up", "s", found, "make up STACK=s")


def test_the_event_log_is_read_line_by_line_and_a_torn_line_skipped(tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    log.write_text(json.dumps(diag(STACK, "x")) + "\n" + '{"torn": ')
    assert len(read_events(log)) == 1 and read_events(tmp_path / "none") == []


PROGRAM = """
import os, sys, time
sys.argv[0] = {argv0!r}
from fabric.cancellation import quiet_when_stopped
quiet_when_stopped()
print("ready", flush=True)
time.sleep(30)
"""


def _interrupted(argv0: str, debug: bool) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if k != "SAMAKIA_DEBUG"} | ({"SAMAKIA_DEBUG": "1"} if debug else {})
    code = PROGRAM.format(argv0=f"/engine/bin/{argv0}")
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGINT)  # what the engine sends the language host's process group
    _, err = proc.communicate(timeout=30)
    return proc.returncode, err


def test_the_engines_interrupt_ends_the_program_without_a_traceback_unless_debug_asks() -> None:
    code, err = _interrupted(EXEC_SCRIPT, debug=False)
    assert (code, err) == (130, "")
    code, err = _interrupted(EXEC_SCRIPT, debug=True)
    assert "Traceback" in err and "KeyboardInterrupt" in err
    # Under mocks (a test process, not the language host's) Ctrl-C stays the caller's.
    assert quiet_when_stopped({}, argv0="/usr/bin/pytest") is False


def test_an_operation_cancelled_because_another_failed_is_not_reported_as_a_cause() -> None:
    container = f"{FLEET}$proxmoxve:index/containerLegacy:ContainerLegacy"
    events = [
        diag(f"{container}::app-1", "received an HTTP 500 response - Reason: got timeout"),
        diag(f"{container}::db-1", "failed to run remediation: context canceled"),
    ]
    summary = render("up", "s", failures(events), "make up STACK=s")
    assert summary.splitlines()[:3] == [
        "up of stack s failed: 1 resource(s)",
        "  - container app-1: Proxmox: got timeout",
        "  (stopped with the run: container db-1)",
    ]
