"""Sites as stacks: one stack file per site, and the checks that keep sites from colliding.

A site's stack file declares ``fabric:site`` (``fabric.intent.SiteSpec``): its name, the Proxmox
cluster it applies to, its VMID range and, on networks another site shares, its address range.
The validation of one site reads the ``site`` and ``networks`` of every other stack file of the
project (``Pulumi.<stack>.yaml`` beside ``Pulumi.yaml``; the stack files are the only place a
site's values live), so a pull request that gives two sites one VMID or one address fails in
every affected stack's preview and in ``python -m ops.stack.validate``, before any apply:

- two sites on one cluster with overlapping VMID ranges (one cluster, one VMID space);
- two sites whose networks overlap (the same subnet, stretched or shared) with overlapping
  address ranges (a site without a range on that network claims its whole subnet);
- two stack files naming the same site.

Within the site: every container's VMID and the volume owner lie in its VMID range, and every
address on a network with a range lies in that range.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .errors import InputError, Problem
from .intent import AddressRange, FabricIntent, NetworkSpec, SiteSpec
from .stack_file import read_stack_file

Span = tuple[int, int]


@dataclass(frozen=True)
class SiteFacts:
    """What another stack file says about its site: enough to find a collision."""

    stack: str
    site: SiteSpec
    networks: dict[str, NetworkSpec]

    def address_span(self, network: str) -> Span | None:
        """The addresses this site claims on ``network``: its range, else the whole subnet."""
        net = self.networks.get(network)
        if net is None:
            return None
        given = self.site.address_ranges.get(network)
        return _span(given) if given is not None else _subnet_span(net)


def _span(r: AddressRange) -> Span:
    return int(ipaddress.IPv4Address(r.first)), int(ipaddress.IPv4Address(r.last))


def _subnet_span(net: NetworkSpec) -> Span:
    subnet = ipaddress.IPv4Network(net.cidr)
    return int(subnet.network_address), int(subnet.broadcast_address)


def _overlap(a: Span, b: Span) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


def _show(span: Span) -> str:
    return f"{ipaddress.IPv4Address(span[0])}-{ipaddress.IPv4Address(span[1])}"


def stack_of(path: Path) -> str | None:
    """``east`` for ``Pulumi.east.yaml``; None for ``Pulumi.yaml`` and anything else."""
    parts = path.name.split(".")
    return ".".join(parts[1:-1]) if len(parts) >= 3 and parts[0] == "Pulumi" and parts[-1] == "yaml" else None


def facts_of(path: Path) -> SiteFacts | None:
    """The site a stack file declares, or None when it declares none or is unusable (its own
    validation reports that; here it only cannot take part)."""
    stack = stack_of(path)
    if stack is None:
        return None
    try:
        raw, _ = read_stack_file(path)
        site = raw.get("site")
        if site is None:
            return None
        networks: dict[str, Any] = raw.get("networks") or {}
        return SiteFacts(
            stack=stack,
            site=SiteSpec.model_validate(site),
            networks={k: NetworkSpec.model_validate(v) for k, v in networks.items()},
        )
    except (InputError, ValidationError, AttributeError, TypeError):
        return None


def sites_of(project_dir: Path) -> list[SiteFacts]:
    """Every site the project's stack files declare, by stack name."""
    found = (facts_of(p) for p in sorted(project_dir.glob("Pulumi.*.yaml")))
    return [f for f in found if f is not None]


def check_own(intent: FabricIntent) -> list[Problem]:
    """The site's containers, volume owner and addresses lie within its own ranges."""
    site = intent.site
    if site is None:
        return []
    problems: list[Problem] = []
    first, last = site.vmid_range.first, site.vmid_range.last
    for name, c in intent.containers.items():
        if not first <= c.vmid <= last:
            problems.append(
                Problem(f"containers.{name}.vmid", f"is outside site.vmidRange ({site.vmid_range})", c.vmid)
            )
    if intent.volume_owner is not None and not first <= intent.volume_owner <= last:
        problems.append(Problem("volumeOwner", f"is outside site.vmidRange ({site.vmid_range})", intent.volume_owner))
    for net_name, r in site.address_ranges.items():
        net = intent.networks.get(net_name)
        at = f"site.addressRanges.{net_name}"
        if net is None:
            known = ", ".join(sorted(intent.networks))
            problems.append(Problem(at, f"is not a key of networks; known: {known}", net_name))
            continue
        lo, hi = _span(r)
        sub_lo, sub_hi = _subnet_span(net)
        if lo < sub_lo or hi > sub_hi:
            problems.append(Problem(at, f"is not inside {net_name} ({net.cidr})", str(r)))
            continue
        for name, c in intent.containers.items():
            address = int(ipaddress.IPv4Address(c.nic.address))
            if c.nic.network == net_name and not lo <= address <= hi:
                problems.append(Problem(f"containers.{name}.nic.address", f"is outside {at} ({r})", c.nic.address))
    return problems


def check_against_others(intent: FabricIntent, stack: str | None, others: list[SiteFacts]) -> list[Problem]:
    """Collisions between this stack's site and every other site of the project."""
    site = intent.site
    if site is None:
        return []
    me = SiteFacts(stack=stack or "?", site=site, networks=dict(intent.networks))
    problems: list[Problem] = []
    for other in others:
        if other.stack == stack:
            continue
        where = f"site '{other.site.name}' (Pulumi.{other.stack}.yaml)"
        if other.site.name == site.name:
            problems.append(
                Problem("site.name", f"is also the name of the site in Pulumi.{other.stack}.yaml", site.name)
            )
        mine = (site.vmid_range.first, site.vmid_range.last)
        theirs = (other.site.vmid_range.first, other.site.vmid_range.last)
        if other.site.cluster == site.cluster and _overlap(mine, theirs):
            problems.append(
                Problem(
                    "site.vmidRange",
                    f"overlaps {where}, {other.site.vmid_range} on the shared cluster '{site.cluster}'",
                    str(site.vmid_range),
                )
            )
        for net_name, net in sorted(me.networks.items()):
            for other_name, other_net in sorted(other.networks.items()):
                if not ipaddress.IPv4Network(net.cidr).overlaps(ipaddress.IPv4Network(other_net.cidr)):
                    continue
                a, b = me.address_span(net_name), other.address_span(other_name)
                if a is None or b is None or not _overlap(a, b):
                    continue
                at = f"site.addressRanges.{net_name}" if net_name in site.address_ranges else f"networks.{net_name}"
                problems.append(
                    Problem(
                        at,
                        f"shares addresses with {where}: its network '{other_name}' ({other_net.cidr}) claims "
                        f"{_show(b)}; give each site its own site.addressRanges on a shared network",
                        _show(a),
                    )
                )
    return problems


def check_sites(intent: FabricIntent, stack: str | None, project_dir: Path) -> list[Problem]:
    """Every site problem of ``intent``: its own ranges, then collisions with the project's other sites."""
    if intent.site is None:
        return []
    return check_own(intent) + check_against_others(intent, stack, sites_of(project_dir))
