"""Before a preview or an apply: containers recorded on a node that no longer answers.

A node lost for good (hardware gone, reinstalled) leaves its containers in the state. Nothing
about them can be read or deleted any more: every call routed to that node fails (PVE's 595), in
upstream's provider as in the stand-in, so the engine's refresh fails, and so does the delete half
of any replace. The recovery is a reviewed change to the stack file that moves each of them to a
surviving node (docs/runbooks/lost-node.md). This module is what the stack runner does with it:

- a container recorded on a node PVE reports offline (or no longer lists) that the stack file
  **still places there** stops the run, naming the node and the containers: the node may come
  back, and the fabric never gives up on a container it was not told to move;
- one the stack file **moves** (or removes) is *lost with its node*: the runner forgets it from
  the state with everything that depends on it (its release step, pool membership and HA
  resource, its configuration runs; the same set ``pulumi state delete --target-dependents``
  removes), so the apply creates them on the new node. Before it forgets anything it checks that
  the VMID is free in the cluster (the operator has removed the dead node and its guest configs,
  or the create would fail on "already exists"), and it removes the container's HA entry, which
  is cluster-wide and would otherwise refuse the new one; that entry is provably the fabric's (its
  id is in the state);
- a data volume on that node's storage is lost with it: the run stops naming it unless the stack
  file accepts an empty one (``acceptEmpty: true``, as for any lost volume), and then it is
  forgotten too (its delete could not run) and allocated again beside the container's new node;
- a pull request's preview (``make plan``, ``preview``) never changes the state: it runs on a
  scratch copy of the state with the same resources forgotten (``forgotten_copy``), so the plan a
  reviewer reads, and the plan ``apply-plan`` applies, are the apply's own.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from fabric.errors import InputError
from fabric.tokens import COMMAND, CONTAINER, HA
from ops.stack.recovery import import_checkpoint, stack_file_of
from ops.stack.volume_check import state_volumes
from ops.stack.workspace import Workspace
from providers.pve_api import PveApi, PveApiError

RUNBOOK = "docs/runbooks/lost-node.md"


@dataclass(frozen=True)
class LostResource:
    """A resource the state records on a node that does not answer, which the stack file no longer puts there."""

    urn: str
    type: str
    node: str
    moved_to: str | None = None
    """A container's node in the stack file now (None: removed from the stack file, or not a container)."""
    vmid: int | None = None
    """A container's VMID."""

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]

    def line(self) -> str:
        if self.type == COMMAND:
            return f"{self.name} on {self.node}: lost with its node; accepted empty (acceptEmpty), allocated again"
        if self.type != CONTAINER:
            return f"{self.name} on {self.node}: {self.node} left fabric:nodes; forgotten with its node"
        where = f"moves {self.node} -> {self.moved_to}" if self.moved_to else "removed from the stack file"
        return f"{self.name} (VMID {self.vmid}): {where}; node {self.node} is lost, so it is rebuilt from Git"


@dataclass(frozen=True)
class Placement:
    """Where the stack file puts things: each container's node, and the nodes it lists (templates go to each)."""

    containers: Mapping[str, str]
    nodes: frozenset[str]
    accepted_empty: frozenset[tuple[str, str]] = frozenset()
    """(container, mount point) pairs whose volume may be re-created empty (``acceptEmpty: true``)."""


def resources(state: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list((state.get("deployment") or {}).get("resources") or [])


def unreachable_nodes(pve: PveApi) -> Callable[[str], bool]:
    """Whether PVE reports a node as not online (offline, unknown, or no longer a cluster member)."""
    online = {str(n.get("node")) for n in pve.get("/nodes") or [] if n.get("status") == "online"}
    return lambda node: node not in online


def _recorded_node(res: Mapping[str, Any]) -> str | None:
    node = (res.get("outputs") or {}).get("nodeName") or (res.get("inputs") or {}).get("nodeName")
    return str(node) if node else None


def find_lost(
    state: Mapping[str, Any], pve: Callable[[], PveApi], placement: Callable[[], Placement]
) -> list[LostResource]:
    """What is lost with its node; raise naming what the stack file still places on a node that does not answer."""
    placed = [(r, node) for r in resources(state) if (node := _recorded_node(r)) and not r.get("delete")]
    if not placed:
        return []
    unreachable = unreachable_nodes(pve())
    on_dead = [(r, node) for r, node in placed if unreachable(node)]
    if not on_dead:
        return []
    wanted = placement()
    lost, stuck = [], []
    for vol in state_volumes(state):
        if not unreachable(vol.node):
            continue
        if (vol.container, vol.name) in wanted.accepted_empty:
            lost.append(LostResource(vol.urn, COMMAND, vol.node))
        else:
            stuck.append(f"data volume {vol.label()}, lost with it unless restored (or accepted empty: acceptEmpty)")
    for res, node in on_dead:
        urn, typ = str(res["urn"]), str(res.get("type"))
        name = urn.rsplit("::", 1)[-1]
        if typ == CONTAINER:
            vmid = int((res.get("outputs") or {}).get("vmId") or res.get("id") or 0)
            target = wanted.containers.get(name)
            if target == node:
                stuck.append(f"{name} (VMID {vmid})")
            else:
                lost.append(LostResource(urn, typ, node, target, vmid))
        elif node in wanted.nodes:
            stuck.append(f"{name} ({node} is still in fabric:nodes)")
        else:
            lost.append(LostResource(urn, typ, node))
    if stuck:
        nodes = sorted({node for _, node in on_dead})
        raise InputError(
            f"node(s) {', '.join(nodes)} do not answer (Proxmox reports them offline), and the stack file still "
            f"places {', '.join(stuck)} there. Nothing was changed. If the node comes back, apply again once it is "
            "online; if it is lost for good, take it out of fabric:nodes and move its containers to a surviving "
            f"node in the stack file ({RUNBOOK})"
        )
    return lost


def dependents(state: Mapping[str, Any], urns: set[str]) -> list[str]:
    """``urns`` and every resource that depends on, is parented to, or is deleted with one of them."""
    gone = set(urns)
    grew = True
    while grew:
        grew = False
        for res in resources(state):
            urn = str(res.get("urn"))
            if urn in gone:
                continue
            needs = {res.get("parent"), res.get("deletedWith"), *(res.get("dependencies") or [])}
            for deps in (res.get("propertyDependencies") or {}).values():
                needs.update(deps or [])
            if needs & gone:
                gone.add(urn)
                grew = True
    return [str(r.get("urn")) for r in resources(state) if r.get("urn") in gone]


def forget(state: Mapping[str, Any], lost: list[LostResource]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The state without the lost containers and their dependents, and the resources it dropped."""
    gone = set(dependents(state, {c.urn for c in lost}))
    deployment = dict(state["deployment"])
    dropped = [r for r in resources(state) if r.get("urn") in gone]
    deployment["resources"] = [r for r in resources(state) if r.get("urn") not in gone]
    return {**state, "deployment": deployment}, dropped


def _vmids_still_held(pve: PveApi, lost: list[LostResource]) -> list[str]:
    listed = {int(r.get("vmid", -1)): str(r.get("node")) for r in pve.get("/cluster/resources", type="vm") or []}
    return [f"VMID {c.vmid} ({c.name}) on {listed[c.vmid]}" for c in lost if c.vmid is not None and c.vmid in listed]


def forget_lost(
    ws: Workspace, state: Mapping[str, Any], lost: list[LostResource], pve: PveApi, log: Callable[[str], None]
) -> None:
    """The apply's half: check the VMIDs are free, drop the lost containers' HA entries, forget them."""
    held = _vmids_still_held(pve, lost)
    if held:
        raise InputError(
            f"{'; '.join(held)} still held by the lost node's guest configs: remove the node from the cluster "
            f"(pvecm delnode, then its leftover configs), then apply again ({RUNBOOK}, step 1). Nothing was changed"
        )
    cleaned, dropped = forget(state, lost)
    for res in dropped:
        if res.get("type") == HA and res.get("id"):
            sid = str(res["id"])
            try:
                pve.delete(f"/cluster/ha/resources/{sid}")
                log(f"recovery: removed HA entry {sid} of a container lost with its node")
            except PveApiError as err:
                if "no such" not in str(err).lower() and "does not exist" not in str(err).lower():
                    raise
    for container in lost:
        log(f"recovery: {container.line()}")
    log(f"recovery: forgetting {len(dropped)} resource(s) of lost containers from the state (they are created again)")
    import_checkpoint(ws, cleaned)


@contextlib.contextmanager
def forgotten_copy(ws: Workspace, state: Mapping[str, Any], lost: list[LostResource]) -> Iterator[Workspace]:
    """A workspace on a scratch file backend holding ``state`` with the lost containers forgotten.

    A preview there is the apply's own preview (the apply forgets the same resources first), and
    the stack's real state is never written. The config is a copy, so the passphrase's salt it
    holds serves both.
    """
    cleaned, _ = forget(state, lost)
    config = stack_file_of(ws)
    with tempfile.TemporaryDirectory(prefix="lost-node-preview-") as scratch:
        root = Path(scratch)
        (root / "backend").mkdir()
        shutil.copy(ws.project_dir / "Pulumi.yaml", root / "Pulumi.yaml")
        shutil.copy(config, root / f"Pulumi.{ws.stack}.yaml")
        env = {**ws.env, "PULUMI_BACKEND_URL": (root / "backend").as_uri()}
        copy = replace(ws, env=env, config_file=root / f"Pulumi.{ws.stack}.yaml")
        made = copy._stack_cmd("init", cwd=root)
        if made.returncode != 0:
            raise SystemExit(f"pulumi stack init (scratch copy for the lost-node preview) failed: {made.stderr}")
        import_checkpoint(copy, cleaned)
        yield copy
