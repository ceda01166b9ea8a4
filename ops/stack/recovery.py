"""Before an apply: make the state trustworthy again after a killed run, from Pulumi's own mechanisms.

A ``pulumi up`` killed mid-step leaves *pending operations* in the state. The engine drops every
pending update, delete or read at the next snapshot, but never a pending **create**: it keeps
those until someone says whether the create happened (pulumi/pkg v3.274.1 backend/snapshot.go,
``snap``: "we don't want to clear pending CREATE operations because these must require user
intervention"). A container PVE created for a killed run is then in PVE but not in the state, and
the next create of its fixed VMID fails with "already exists".

The stack runner resolves each pending create the way ``pulumi refresh`` offers interactively,
non-interactively and with evidence (docs/engine.md, "Interrupted applies"):

- a **container** whose VMID exists in PVE is *adopted* (its create completed in the checkpoint
  with the VMID as its id, then read back by the refresh; see ``complete_creates``) only when
  it is provably the one this stack was creating: same VMID, node, hostname, tags and address
  as the pending create's inputs. A container with that VMID that differs in any of
  them is not ours: the run stops naming it, and nothing is deleted;
- a container whose VMID does not exist, and every other pending create (configuration runs,
  data-volume allocations, health checks: commands that are safe to run again), is *cleared*
  (``--clear-pending-creates``) and created again by the apply;
- an HA resource or template file PVE already holds is adopted by its id the same way, so its
  create does not fail on "already exists".
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fabric.errors import InputError
from fabric.tokens import CONTAINER, FILE, HA
from ops.stack.workspace import Workspace
from providers.pve_api import PveApi, PveApiError


@dataclass
class Resolution:
    """What the runner does with the pending operations it found."""

    imports: list[tuple[str, str]] = field(default_factory=list)
    """(URN, provider id) of creates that happened: adopted."""
    cleared: list[str] = field(default_factory=list)
    """URNs of creates that did not happen (or are safe to run again): dropped, re-created by the apply."""
    others: list[str] = field(default_factory=list)
    """Pending updates/deletes/reads: ``pulumi refresh`` clears them and reads the truth back."""

    def __bool__(self) -> bool:
        return bool(self.imports or self.cleared or self.others)

    def refresh_args(self) -> list[str]:
        """The refresh that reads the adopted resources back and drops the other pending creates."""
        args = ["refresh", "--yes", "--skip-preview"]
        return [*args, "--clear-pending-creates"] if self.cleared else args

    def lines(self) -> list[str]:
        out = [
            f"recovery: adopting {urn.rsplit('::', 1)[-1]} (id {rid}): created by the killed run"
            for urn, rid in self.imports
        ]
        out += [
            f"recovery: clearing pending create of {urn.rsplit('::', 1)[-1]}: it runs again" for urn in self.cleared
        ]
        out += [f"recovery: pending {op} read back by refresh" for op in self.others]
        return out


def pending_operations(state: dict[str, Any]) -> list[dict[str, Any]]:
    return list((state.get("deployment") or {}).get("pending_operations") or [])


def _container_is_ours(inputs: dict[str, Any], node: str, cfg: dict[str, Any]) -> list[str]:
    """What differs between a pending container create and the container PVE holds (empty: ours)."""
    init = inputs.get("initialization") or {}
    ipv4 = (((init.get("ipConfigs") or [{}])[0] or {}).get("ipv4") or {}).get("address")
    net0 = dict(kv.split("=", 1) for kv in str(cfg.get("net0", "")).split(",") if "=" in kv)
    wanted = {
        "node": inputs.get("nodeName"),
        "hostname": init.get("hostname"),
        "tags": sorted(inputs.get("tags") or []),
        "address": ipv4,
    }
    found = {
        "node": node,
        "hostname": cfg.get("hostname"),
        "tags": sorted(t for t in str(cfg.get("tags", "")).split(";") if t),
        "address": net0.get("ip"),
    }
    return [f"{k} {found[k]!r} (this stack: {wanted[k]!r})" for k in wanted if found[k] != wanted[k]]


def resolve(state: dict[str, Any], api: Callable[[], PveApi]) -> Resolution:
    """Decide, from the state and what PVE holds, what to do with every pending operation."""
    res = Resolution()
    held: PveHoldings | None = None
    for op in pending_operations(state):
        resource = op.get("resource") or {}
        urn, typ, inputs = str(resource.get("urn")), resource.get("type"), resource.get("inputs") or {}
        if op.get("type") != "creating":
            res.others.append(f"{op.get('type')} of {urn.rsplit('::', 1)[-1]}")
            continue
        if typ not in ADOPTABLE:
            res.cleared.append(urn)
            continue
        held = held or PveHoldings(api())
        found = held.existing_id(typ, inputs, urn)
        if found is None:
            res.cleared.append(urn)
        else:
            res.imports.append((urn, found))
    return res


ADOPTABLE = (CONTAINER, HA, FILE)
"""What PVE holds under an id the program fixes in advance (VMID, HA sid, volume id), so that a
create the state does not record can be found again. Everything else the fabric creates is a
command that is safe to run again, or a pool membership, whose create is an idempotent update of
the pool (bpg fwprovider/pools/pool_membership.go, ``Create``: ``allow-move``)."""


class PveHoldings:
    """What PVE holds, read once per kind: a recovery checks hundreds of creates with a few calls."""

    def __init__(self, pve: PveApi) -> None:
        self.pve = pve
        self._vms: dict[int, str] | None = None
        self._ha: set[str] | None = None
        self._content: dict[tuple[str, str], set[str]] = {}

    def vm_nodes(self) -> dict[int, str]:
        """VMID -> node, for every guest of the cluster."""
        if self._vms is None:
            listed = self.pve.get("/cluster/resources", type="vm") or []
            self._vms = {int(r["vmid"]): str(r.get("node")) for r in listed if r.get("vmid") is not None}
        return self._vms

    def ha_sids(self) -> set[str]:
        if self._ha is None:
            self._ha = {str(e.get("sid")) for e in self.pve.get("/cluster/ha/resources") or []}
        return self._ha

    def volids(self, node: str, store: str) -> set[str]:
        if (node, store) not in self._content:
            content = self.pve.get(f"/nodes/{node}/storage/{quote(store, safe='')}/content") or []
            self._content[(node, store)] = {str(c.get("volid")) for c in content}
        return self._content[(node, store)]

    def existing_id(self, typ: Any, inputs: dict[str, Any], urn: str) -> str | None:
        """The provider id of what a create of ``typ`` with ``inputs`` makes, if PVE already holds it.

        A container PVE holds under that VMID counts only when it is provably this stack's (node,
        hostname, tags and address as ``inputs`` say); any other stops the run, naming it.
        """
        if typ == HA:
            sid = str(inputs.get("resourceId"))
            return sid if sid in self.ha_sids() else None
        if typ == FILE:
            node, store = str(inputs.get("nodeName")), str(inputs.get("datastoreId"))
            volid = f"{store}:{inputs.get('contentType')}/{inputs.get('fileName')}"
            return volid if volid in self.volids(node, store) else None
        vmid = int(inputs.get("vmId", 0))
        if vmid not in self.vm_nodes():
            return None
        node = self.vm_nodes()[vmid]
        differs = _container_is_ours(inputs, node, _settled_config(self.pve, node, vmid))
        if differs:
            raise InputError(
                f"{urn.rsplit('::', 1)[-1]}: this stack creates VMID {vmid}, and PVE holds a VMID {vmid} "
                f"that is not this stack's container: {'; '.join(differs)}. The fabric deletes nothing it did not "
                "create: free the VMID (or change the stack file) after checking what that container is, then apply "
                "again (docs/runbooks/interrupted-apply.md)"
            )
        return str(vmid)


def _settled_config(pve: PveApi, node: str, vmid: int, timeout_s: float = 300) -> dict[str, Any]:
    """The container's config once PVE's own task on it (the killed run's create) has ended."""
    give_up = time.monotonic() + timeout_s
    while True:
        try:
            cfg: dict[str, Any] = pve.get(f"/nodes/{node}/lxc/{vmid}/config")
        except PveApiError as err:
            raise InputError(
                f"VMID {vmid} exists on node {node} but is not a container ({err}); nothing was changed"
            ) from err
        if cfg.get("lock") != "create":
            return cfg
        if time.monotonic() > give_up:
            raise InputError(f"CT {vmid} on {node} is still locked by its create task after {timeout_s:.0f}s")
        time.sleep(0.5)


def recover(ws: Workspace, api: Callable[[], PveApi], log: Callable[[str], None] = print) -> Resolution:
    """Resolve every pending operation of ``ws``'s stack with ``pulumi refresh`` (nothing when there is none)."""
    state = json.loads(ws.pulumi("stack", "export", capture=True).stdout or "{}")
    res = resolve(state, api)
    if not res:
        return res
    for line in res.lines():
        log(line)
    if res.imports:
        complete_creates(ws, state, res.imports)
    ws.pulumi(*res.refresh_args())
    left = pending_operations(json.loads(ws.pulumi("stack", "export", capture=True).stdout or "{}"))
    if left:
        names = ", ".join(
            f"{o.get('type')} {str((o.get('resource') or {}).get('urn')).rsplit('::', 1)[-1]}" for o in left
        )
        raise InputError(f"pending operations left after recovery: {names} (docs/runbooks/interrupted-apply.md)")
    return res


def complete_creates(ws: Workspace, state: dict[str, Any], imports: list[tuple[str, str]]) -> None:
    """Record each adopted create in the checkpoint with its provider id, as a finished create.

    ``pulumi refresh --import-pending-creates URN ID`` is meant to do this, but in the engine this
    project runs it only retypes the pending operation as "importing" (cmd/pulumi/operations/
    refresh.go, ``pendingCreatesToImports``), and the refresh then drops every non-create pending
    operation without adding the resource (backend/snapshot.go, ``snap``): the fault tier saw the
    next create fail on "already exists". So the runner does what the flag describes, through
    ``pulumi stack import`` (the engine checks the checkpoint's integrity on import): the pending
    create's own resource, with its id and its inputs as provisional outputs, placed after the
    resources it depends on. The refresh that follows reads its real outputs from the provider.
    """
    deployment = dict(state["deployment"])
    resources = list(deployment.get("resources") or [])
    ops = list(deployment.get("pending_operations") or [])
    for urn, rid in imports:
        op = next(o for o in ops if o.get("type") == "creating" and (o.get("resource") or {}).get("urn") == urn)
        ops.remove(op)
        resources = insert_resource(resources, {**op["resource"], "id": rid})
    deployment["resources"], deployment["pending_operations"] = resources, ops
    import_checkpoint(ws, {**state, "deployment": deployment})


def insert_resource(resources: list[dict[str, Any]], resource: dict[str, Any]) -> list[dict[str, Any]]:
    """``resources`` with ``resource`` recorded as a finished create, placed after everything it needs.

    A resource with an id (a custom one) has its inputs stand in for its outputs until the refresh
    that follows reads the real ones from the provider.
    """
    if resource.get("id"):
        resource = {**resource, "outputs": dict(resource.get("inputs") or {})}
    urn = resource.get("urn")
    # A delete-before-replace keeps the deleted old resource, marked pendingReplacement, until
    # its replacement is created (resource/deploy/step.go, DeleteStep): the adopted replacement
    # takes its place, as the finished create would have.
    kept = [r for r in resources if not (r.get("urn") == urn and r.get("pendingReplacement"))]
    needs = {resource.get("parent"), *(resource.get("dependencies") or [])}
    provider = str(resource.get("provider", ""))
    after = [
        i
        for i, r in enumerate(kept)
        if r.get("urn") in needs or (provider and provider == f"{r.get('urn')}::{r.get('id')}")
    ]
    kept.insert(max(after, default=-1) + 1, resource)
    return kept


def import_checkpoint(ws: Workspace, state: Mapping[str, Any]) -> None:
    """Replace ``ws``'s state with ``state`` through ``pulumi stack import`` (which checks its integrity)."""
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "checkpoint.json"
        path.write_text(json.dumps(state))
        ws.pulumi("stack", "import", "--file", str(path), capture=True)


def stack_file_of(ws: Workspace) -> Path:
    return ws.config_file or ws.project_dir / f"Pulumi.{ws.stack}.yaml"
