"""Adoption by identity: what a killed apply created, found again in PVE and recorded in the state.

The stack runner applies with the engine's per-step checkpoint off (``PULUMI_SKIP_CHECKPOINTS``,
ops/stack/workspace.py; docs/engine.md, "The fast path and what a killed run leaves"): the engine
keeps the snapshot in memory and writes it once, when the run ends, also when it fails or is
cancelled. A run killed outright (SIGKILL, a lost CI runner) writes nothing, so the state stays
as the run before left it, and what the killed run created is held by PVE only. Nothing of it
needs a record of the killed run, because the fabric fixes every id in advance:

- the preview that precedes every apply lists the creates the program still wants, each with
  its inputs (``planned_creates``, from the engine's event log; ``reviewed_creates``, from a
  reviewed plan's ``preview.json``);
- every create of what PVE holds under such an id (``recovery.ADOPTABLE``: a container's VMID,
  an HA resource's sid, a template's volume id) is looked up in PVE, one listing per kind
  (``recovery.PveHoldings``);
- what PVE holds is adopted: recorded as a finished create (``recovery.insert_resource``), with
  the parent components and the provider the state lacks, through ``pulumi stack import``.
  A container counts as this stack's only when its node, hostname, tags and address are the
  ones this stack gives it; any other container under that VMID stops the run, naming it, and
  nothing is deleted;
- a create whose inputs are still unknown (a container whose template the same run creates) waits
  for the next round: the preview runs again after each adoption, until it finds nothing more.
  Its refresh reads the adopted resources' real outputs.

Everything else the killed run did is safe to do again: its commands (configuration runs, health
checks, data-volume allocation) run again, a pool membership is added again (an idempotent pool
update), and the updates and deletes it finished are read back by the refresh.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fabric.errors import InputError
from fabric.tokens import UNKNOWN
from ops.stack.failure_summary import logged_run
from ops.stack.recovery import ADOPTABLE, PveHoldings, import_checkpoint, insert_resource
from ops.stack.workspace import Workspace
from providers.pve_api import PveApi

SECRET_SIG = "4dabf18193072939515e22adb298388d"  # noqa: S105 - a marker key, not a secret
"""The key that marks a secret in serialized state (sdk/go/common/resource/sig, ``Secret``)."""

ROUNDS = 4
"""Previews an adoption may take: templates, then containers, then HA resources, then a last look."""

_STATE_KEYS = ("urn", "custom", "type", "parent", "provider", "inputs", "protect", "retainOnDelete", "dependencies")
"""What a planned create says of the resource that the state records too (ids and outputs come later)."""


@dataclass
class Planned:
    """The creates a preview plans, and every resource state it names (ancestors are found there)."""

    creates: list[dict[str, Any]]
    named: dict[str, dict[str, Any]]


def _record(new: Mapping[str, Any]) -> dict[str, Any]:
    return {k: new[k] for k in _STATE_KEYS if new.get(k) not in (None, "", [], {})}


def _planned(steps: Iterable[tuple[Any, Any]]) -> Planned:
    creates: list[dict[str, Any]] = []
    named: dict[str, dict[str, Any]] = {}
    for op, new in steps:
        if not isinstance(new, dict) or not new.get("urn"):
            continue
        named[str(new["urn"])] = _record(new)
        if op == "create":
            creates.append(_record(new))
    return Planned(creates, named)


def planned_creates(events: Iterable[Mapping[str, Any]]) -> Planned:
    """From a preview's event log: each ``resourcePreEvent`` (apitype.StepEventMetadata) of a create."""
    metas = [(event.get("resourcePreEvent") or {}).get("metadata") or {} for event in events]
    return _planned((meta.get("op"), meta.get("new")) for meta in metas)


def reviewed_creates(document: Mapping[str, Any]) -> Planned:
    """From a reviewed plan's ``pulumi preview --json`` document: each step's ``newState``."""
    return _planned((step.get("op"), step.get("newState")) for step in document.get("steps") or [])


def _holds(value: Any, test: Callable[[Any], bool]) -> bool:
    if test(value):
        return True
    if isinstance(value, dict):
        return any(_holds(v, test) for v in value.values())
    if isinstance(value, list):
        return any(_holds(v, test) for v in value)
    return False


def _unknown(value: Any) -> bool:
    return _holds(value, lambda v: v == UNKNOWN)


def _secret(value: Any) -> bool:
    return _holds(value, lambda v: isinstance(v, dict) and SECRET_SIG in v)


def _name(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


def adoptions(state: Mapping[str, Any], planned: Planned, held: Callable[[], PveHoldings]) -> list[dict[str, Any]]:
    """The resources to record, in order (ancestors first), each with its id; empty when PVE holds none."""
    resources = list((state.get("deployment") or {}).get("resources") or [])
    known = {str(r.get("urn")) for r in resources}
    ids = {f"{r.get('urn')}::{r.get('id')}" for r in resources if r.get("id")}
    candidates = [c for c in planned.creates if c.get("type") in ADOPTABLE and c["urn"] not in known]
    found: list[dict[str, Any]] = []
    for create in candidates:
        if _unknown(create.get("inputs")):
            continue  # its inputs come from a resource adopted in this round: the next preview knows them
        rid = held().existing_id(create["type"], create.get("inputs") or {}, create["urn"])
        if rid is None:
            continue
        if _secret(create.get("inputs")):
            raise InputError(
                f"{_name(create['urn'])}: PVE holds it (id {rid}) but the state does not, and its inputs hold a "
                "secret the preview cannot show: adopt it by hand (docs/runbooks/interrupted-apply.md)"
            )
        found.append({**create, "id": rid})
    out: list[dict[str, Any]] = []
    minted: dict[str, str] = {}

    def ancestor(urn: str) -> None:
        if not urn or urn in known:
            return
        record = planned.named.get(urn)
        if record is None:
            raise InputError(f"{_name(urn)}: needed to adopt what a killed apply created, but the preview names it not")
        ancestor(str(record.get("parent") or ""))
        known.add(urn)
        if record.get("type", "").startswith("pulumi:providers:"):
            minted[urn] = str(uuid.uuid4())  # a provider's id is the engine's own; any fresh one serves
            ids.add(f"{urn}::{minted[urn]}")
            out.append({**record, "id": minted[urn]})
        else:
            out.append(dict(record))

    for create in found:
        ancestor(str(create.get("parent") or ""))
        resource = dict(create)
        ref = str(create.get("provider") or "")
        if ref and ref not in ids:
            provider_urn, provider_id = ref.rsplit("::", 1)
            ancestor(provider_urn)
            resource["provider"] = f"{provider_urn}::{minted.get(provider_urn, provider_id)}"
        # Dependencies the state lacks would fail the import's integrity check; the apply's own
        # registration writes the real ones.
        resource["dependencies"] = [d for d in create.get("dependencies") or [] if d in known]
        known.add(resource["urn"])
        out.append(resource)
    return out


def adopt(ws: Workspace, planned: Planned, api: Callable[[], PveApi], log: Callable[[str], None] = print) -> int:
    """Record what PVE holds of the planned creates; how many resources PVE held (0: nothing changed)."""
    if not any(c.get("type") in ADOPTABLE for c in planned.creates):
        return 0  # the usual apply: nothing to look up, and no export of the state for it
    state = json.loads(ws.pulumi("stack", "export", capture=True).stdout or "{}")
    cache: list[PveHoldings] = []

    def held() -> PveHoldings:
        if not cache:
            cache.append(PveHoldings(api()))
        return cache[0]

    records = adoptions(state, planned, held)
    if not records:
        return 0
    adopted = [r for r in records if r.get("type") in ADOPTABLE]
    for r in adopted:
        log(f"recovery: adopting {_name(r['urn'])} (id {r['id']}): PVE holds it as this stack's, the state does not")
    deployment = dict(state.get("deployment") or {})
    resources = list(deployment.get("resources") or [])
    for record in records:
        resources = insert_resource(resources, record)
    deployment["resources"] = resources
    import_checkpoint(ws, {**state, "version": state.get("version", 3), "deployment": deployment})
    return len(adopted)


def preview_adopting(ws: Workspace, api: Callable[[], PveApi], *args: str, log: Callable[[str], None] = print) -> None:
    """The preview before an apply (``pulumi preview *args``), again after each adoption it leads to."""
    for _ in range(ROUNDS):
        events: list[dict[str, Any]] = []
        logged_run(ws, "up", "preview", *args, events=events)
        if not adopt(ws, planned_creates(events), api, log):
            return
    raise InputError(f"still adopting what a killed apply created after {ROUNDS} previews; nothing was applied")


def adopt_reviewed(ws: Workspace, plan: Path, api: Callable[[], PveApi], policy: tuple[str, ...]) -> int:
    """Before a reviewed plan applies: adopt what PVE holds of the creates it reviewed (0: none).

    The plan was made from the state before the adoption, so it cannot apply after one: what it
    would create is then in the state. The rounds a later preview would take run here too, so the
    next plan starts from a state that holds everything the killed apply created.
    """
    document = json.loads((plan / "preview.json").read_text() or "{}") if (plan / "preview.json").is_file() else {}
    adopted = adopt(ws, reviewed_creates(document), api)
    if adopted:
        preview_adopting(ws, api, "--refresh", *policy)
    return adopted
