"""The end of a failed run: each failed resource, the message that matters, and what to do next.

A failed ``pulumi up`` prints every diagnostic of every resource, the provider's wrapping of
Proxmox's message and the engine's own lines; the one line a person needs (which container, what
Proxmox or Ansible said) is somewhere in it. The runner asks the engine for its structured event
log (``--event-log``, one JSON engine event per line; registered only with
``PULUMI_DEBUG_COMMANDS`` set: pulumi/pulumi pkg/v3 v3.274.1 cmd/pulumi/operations/up.go and
preview.go) and reads the ``diagnosticEvent`` entries of severity ``error`` from it.

Proxmox's words are found in the shapes both providers give them: upstream's
``received an HTTP 500 response - Reason: <message>`` (bpg ``proxmox/api/errors.go``, HTTPError) and
``task "<upid>" failed to complete with exit code: <status>`` (``proxmox/nodes/tasks/tasks.go``,
``taskFailedResult``), the stand-in's ``<status> {"message": ...}`` and ``TASK ERROR: <status>``.
Ansible's are the policy runner's ``FAILED <task>: <message>`` lines (fabric/runtime/apply_policy.py).
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from ops.stack.workspace import Workspace

STACK_TYPE = "pulumi:pulumi:Stack"
KINDS = {
    "proxmoxve:index/containerLegacy:ContainerLegacy": "container",
    "command:local:Command": "policy run",
    "proxmoxve:download/file:File": "image download",
    "proxmoxve:index/haresource:Haresource": "HA resource",
    "pulumi:providers:proxmoxve": "provider",
}
"""What a person calls a resource of each type (by the end of its type token when not listed)."""

_ENGINE_NOISE = re.compile(
    r"^(update failed|preview failed|an unhandled error occurred|one or more errors occurred)", re.IGNORECASE
)
_PATTERNS = (
    re.compile(r"Reason: (?P<m>.+)"),  # upstream's HTTPError
    re.compile(r"failed to complete with exit code: (?P<m>.+)"),  # upstream's failed task
    re.compile(r"TASK ERROR: (?P<m>.+?)(?: \(UPID:[^)]*\))?$"),  # the stand-in's failed task
    re.compile(r'"message":\s*"(?P<m>(?:[^"\\]|\\.)*)"'),  # a PVE error body, as the stand-in quotes it
    re.compile(r"(?P<m>No route to host|connection reset by peer|connection refused|unexpected EOF)", re.I),
)


CANCELLED = "cancelled"
"""The source of a failure that only followed another's (its operation's context was cancelled)."""


@dataclass(frozen=True)
class Failure:
    """One failed resource and the message that says why."""

    kind: str
    name: str
    source: str
    """``Proxmox``, ``Ansible`` or ``engine``: whose message ``message`` is."""
    message: str

    def line(self) -> str:
        return f"{self.kind} {self.name}: {self.source}: {self.message}"


def read_events(event_log: Path) -> list[dict[str, object]]:
    """The engine's events (one JSON object per line); a torn last line is skipped."""
    events = []
    lines = event_log.read_text(errors="replace").splitlines() if event_log.is_file() else []
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict):
            events.append(event)
    return events


def _kind_and_name(urn: str) -> tuple[str, str]:
    # urn:pulumi:<stack>::<project>::<type chain>::<name>; the last type of the chain is the resource's
    parts = urn.split("::")
    types, name = (parts[-2], parts[-1]) if len(parts) >= 4 else ("", urn)
    typ = types.split("$")[-1]
    return KINDS.get(typ, typ.rsplit(":", 1)[-1] or "resource"), name


_PROVIDER_SUFFIX = re.compile(r": provider=[\w.-]+@[\w.-]+$")


def _plain(text: str) -> str:
    """One line: JSON escapes undone, whitespace folded, the engine's ``: provider=NAME@VERSION`` tail cut."""
    text = text.replace("\\n", " ").replace('\\"', '"').replace("\\'", "'")
    return _PROVIDER_SUFFIX.sub("", " ".join(text.split()))


def proxmox_message(text: str) -> str | None:
    """Proxmox's own words in a provider's error, or None when they are not in it."""
    for line in text.splitlines():
        for pattern in _PATTERNS:
            found = pattern.search(line)
            if found:
                return _plain(found.group("m"))
    return None


def ansible_message(text: str) -> str | None:
    """The policy runner's failed task (``FAILED <task>: <msg>``) or why Ansible could not run."""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("FAILED "):
            return _plain(line[len("FAILED ") :])
        if line.startswith("ansible-playbook could not run:"):
            return _plain(line)
    return None


def failure_of(urn: str, message: str) -> Failure | None:
    """The failure a resource's error diagnostic states (None for the engine's own closing lines)."""
    kind, name = _kind_and_name(urn)
    text = message.strip()
    if not text or _ENGINE_NOISE.match(text) or text.startswith("Traceback"):
        return None
    if "context canceled" in text:
        # The engine stopped this resource's operation because another failed: a consequence.
        return Failure(kind, name, CANCELLED, "stopped when the run stopped")
    if kind == "policy run":
        said = ansible_message(text)
        if said:
            return Failure(kind, name, "Ansible", said)
    said = proxmox_message(text)
    if said:
        return Failure(kind, name, "Proxmox", said)
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return Failure(kind, name, "engine", _plain(first.removeprefix("error: ")))


def failures(events: Iterable[dict[str, object]]) -> list[Failure]:
    """Each failed resource once (its first error), in the order the engine reported them; a mandatory
    policy violation counts as a failure of the resource it names (``policyEvent``, apitype.PolicyEvent)."""
    found: dict[str, Failure] = {}
    for event in events:
        policy = event.get("policyEvent")
        if isinstance(policy, dict) and policy.get("enforcementLevel") == "mandatory":
            urn = str(policy.get("resourceUrn") or "")
            kind, name = _kind_and_name(urn) if urn else ("stack", "")
            source = f"policy {policy.get('policyName')}"
            found.setdefault(urn or source, Failure(kind, name, source, _plain(str(policy.get("message") or ""))))
            continue
        diag = event.get("diagnosticEvent")
        if not isinstance(diag, dict) or diag.get("severity") != "error":
            continue
        urn = str(diag.get("urn") or "")
        if not urn or urn in found:
            continue
        failure = failure_of(urn, str(diag.get("message") or ""))
        if failure is not None and not (failure.kind == "Stack" and failure.source == "engine"):
            found[urn] = failure
    return list(found.values())


def next_step(failure: Failure, command: str) -> str:
    """What to do about one failure."""
    message = failure.message
    locked = re.search(r"is locked \((\w+)\)", message)
    if locked:
        return (
            f"a {locked.group(1)} task holds {failure.name}'s lock: wait for it to end (the node's task list "
            f"shows it), then run `{command}` again"
        )
    if failure.source.startswith("policy "):
        return "the change breaks a rule of the policy pack (policy/): change the stack file, then run it again"
    if failure.source == "Ansible":
        return (
            f"the configuration of {failure.name} failed in the task named; fix its cause (playbooks/, the "
            f"stack's policy variables) or, if it was the connection, run `{command}` again: it re-applies the policy"
        )
    transient = ("got timeout", "lock request timeout", "unable to read file", "No route to host", "connection", "EOF")
    if failure.source == "Proxmox" and any(t.lower() in message.lower() for t in transient):
        return f"Proxmox was briefly unavailable: run `{command}` again; it continues from the refreshed state"
    return f"fix what the message names, then run `{command}` again; it continues from the refreshed state"


def render(action: str, stack: str, found: list[Failure], command: str) -> str:
    """The summary a failed run ends with."""
    if not found:
        return (
            f"{action} of stack {stack} failed; no resource reported an error (the engine's output above says why).\n"
            f"  next: fix the cause, then run `{command}` again"
        )
    causes = [f for f in found if f.source != CANCELLED] or found
    followed = [f for f in found if f.source == CANCELLED and f not in causes]
    lines = [f"{action} of stack {stack} failed: {len(causes)} resource(s)"]
    lines += [f"  - {f.line()}" for f in causes]
    if followed:
        lines.append(f"  (stopped with the run: {', '.join(f'{f.kind} {f.name}' for f in followed)})")
    steps = list(dict.fromkeys(next_step(f, command) for f in causes))
    lines += [f"  next: {step}" for step in steps]
    return "\n".join(lines)


class RunFailed(Exception):
    """An engine run failed; ``summary`` is what the runner ends with (``render``)."""

    def __init__(self, summary: str, code: int, found: list[Failure], output: str = "") -> None:
        super().__init__(summary)
        self.summary = summary
        self.code = code
        self.found = found
        self.output = output
        """The run's stdout and stderr, when it was captured."""


def next_command(action: str, stack: str) -> str:
    """The command that runs this action again (a failed ``apply-plan`` needs a new plan first)."""
    if action == "apply-plan":
        return f"make plan STACK={stack}` and then `make apply-plan STACK={stack}"
    return f"make {action} STACK={stack}"


def logged_run(
    ws: Workspace, action: str, *args: str, capture: bool = False, events: list[dict[str, object]] | None = None
) -> subprocess.CompletedProcess[str]:
    """``pulumi *args`` with the engine's event log; a failure raises ``RunFailed`` with the summary.

    ``events``, when given, receives the run's events (ops.stack.adoption reads a preview's creates).
    """
    with tempfile.TemporaryDirectory(prefix="samakia-events-") as scratch:
        event_log = Path(scratch) / "events.jsonl"
        env = {**ws.env, "PULUMI_DEBUG_COMMANDS": "true"}
        result = replace(ws, env=env).pulumi(*args, "--event-log", str(event_log), check=False, capture=capture)
        if events is None and result.returncode == 0:
            return result
        logged = read_events(event_log)
        if events is not None:
            events.extend(logged)
        if result.returncode == 0:
            return result
        found = failures(logged)
    summary = render(action, ws.stack, found, next_command(action, ws.stack))
    raise RunFailed(summary, result.returncode, found, (result.stdout or "") + (result.stderr or ""))
