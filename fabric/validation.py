"""Validate a stack's raw ``fabric:`` config into a resolved, cross-checked fabric.

Everything here runs before any resource is registered: a stack with any problem raises
one ``FabricConfigError`` listing all of them, and Pulumi registers nothing.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from . import intent_files
from .catalog import Catalog, ImageBuild, load_catalog
from .errors import FabricConfigError, Problem
from .intent import ContainerSpec, FabricIntent, SecretRef, parse_image_ref
from .paths import PLAYBOOKS_DIR
from .stateful import check_stateful

DEFAULTS_KEY = "containerDefaults"


@dataclass(frozen=True)
class ResolvedImage:
    """An image alias resolved against the catalog."""

    alias: str
    family: str
    build: ImageBuild

    @property
    def identity(self) -> str:
        """What a container's replacement keys on: version and digest together."""
        return self.build.identity(self.family)


@dataclass(frozen=True)
class ValidatedStack:
    """A validated fabric: the intent plus what it resolved to."""

    intent: FabricIntent
    images: dict[str, ResolvedImage]
    project_dir: Path

    def image_of(self, container: ContainerSpec) -> ResolvedImage:
        return self.images[container.image]


def _loc(loc: Iterable[int | str]) -> str:
    return ".".join(str(part) for part in loc) or "<root>"


def _pydantic_problems(err: ValidationError, prefix: tuple[str, ...] = ()) -> list[Problem]:
    problems = []
    for e in err.errors(include_url=False):
        loc = prefix + tuple(str(p) for p in e["loc"])
        message = e["msg"].removeprefix("Value error, ")
        problems.append(Problem(_loc(loc), message, e.get("input")))
    return problems


def _merge_defaults(raw: dict[str, Any], problems: list[Problem]) -> dict[str, Any]:
    """Fold ``containerDefaults`` into each container; the container's own keys win."""
    defaults = raw.pop(DEFAULTS_KEY, None)
    if defaults is None:
        return raw
    if not isinstance(defaults, dict):
        problems.append(Problem(DEFAULTS_KEY, "must be a mapping of container fields", defaults))
        return raw
    containers = raw.get("containers")
    if isinstance(containers, dict):
        raw["containers"] = {
            name: ({**defaults, **spec} if isinstance(spec, dict) else spec) for name, spec in containers.items()
        }
    return raw


def _duplicates(kind: str, items: Iterable[tuple[str, object]]) -> list[Problem]:
    seen: dict[object, list[str]] = defaultdict(list)
    for name, value in items:
        seen[value].append(name)
    return [
        Problem(f"containers.{name}.{kind}", f"is also used by {', '.join(n for n in names if n != name)}", value)
        for value, names in seen.items()
        if len(names) > 1
        for name in names
    ]


_SECRET_FIELDS = {"proxmox": ("apiToken", "password"), "connection": ("privateKey",)}


def _referenced_keys(raw: Mapping[str, Any]) -> set[str]:
    """Config keys named by ``{config: KEY}`` references, read before the models are built."""
    names = set()
    for section, fields in _SECRET_FIELDS.items():
        body = raw.get(section)
        for field in fields if isinstance(body, dict) else ():
            ref = body.get(field) if isinstance(body, dict) else None
            if isinstance(ref, dict) and isinstance(ref.get("config"), str):
                names.add(ref["config"])
    return names


def _check_secret_ref(path: str, ref: SecretRef | None, secret_keys: set[str], raw: Mapping[str, Any]) -> list[Problem]:
    if ref is None or ref.config is None:
        return []
    if f"fabric:{ref.config}" in secret_keys:
        return []
    if ref.config in raw:
        return [
            Problem(f"{path}.config", "names a plaintext key; store it with 'pulumi config set --secret'", ref.config)
        ]
    return [Problem(f"{path}.config", "names a config key that is not set", ref.config)]


def _resolve_images(intent: FabricIntent, catalog: Catalog) -> tuple[dict[str, ResolvedImage], list[Problem]]:
    images: dict[str, ResolvedImage] = {}
    problems: list[Problem] = []
    for alias, ref in intent.images.items():
        parsed = parse_image_ref(ref)
        if parsed is None:
            problems.append(Problem(f"images.{alias}", "must be 'family@MAJOR.MINOR.PATCH'", ref))
            continue
        family, version = parsed
        build = catalog.find(family, version)
        if build is None:
            known = catalog.versions(family)
            families = ", ".join(sorted(catalog.families)) or "none"
            why = (
                f"family '{family}' has no version {version} in the catalog; catalogued: {', '.join(known)}"
                if known
                else f"family '{family}' is not in the catalog (families: {families})"
            )
            problems.append(Problem(f"images.{alias}", why, ref))
            continue
        images[alias] = ResolvedImage(alias, family, build)
    return images, problems


def _check_containers(intent: FabricIntent, project_dir: Path) -> list[Problem]:
    problems: list[Problem] = []
    cs = intent.containers
    problems += _duplicates("vmid", ((n, c.vmid) for n, c in cs.items()))
    problems += _duplicates("hostname", ((n, c.hostname) for n, c in cs.items()))
    problems += _duplicates("nic.address", ((n, c.nic.address) for n, c in cs.items()))
    for name, c in cs.items():
        at = f"containers.{name}"
        if c.node not in intent.nodes:
            problems.append(Problem(f"{at}.node", f"unknown node; known: {', '.join(intent.nodes)}", c.node))
        if c.image not in intent.images:
            problems.append(Problem(f"{at}.image", f"unknown image alias; known: {', '.join(intent.images)}", c.image))
        if c.policy is not None and c.policy not in intent.policies:
            known = ", ".join(intent.policies) or "none"
            problems.append(Problem(f"{at}.policy", f"unknown policy; known: {known}", c.policy))
        net = intent.networks.get(c.nic.network)
        if net is None:
            known = ", ".join(intent.networks)
            problems.append(Problem(f"{at}.nic.network", f"unknown network; known: {known}", c.nic.network))
            continue
        subnet = ipaddress.IPv4Network(net.cidr)
        address = ipaddress.IPv4Address(c.nic.address)
        if address not in subnet:
            problems.append(Problem(f"{at}.nic.address", f"is outside {c.nic.network} ({net.cidr})", c.nic.address))
        elif address == ipaddress.IPv4Address(net.gateway):
            problems.append(Problem(f"{at}.nic.address", "is the network's gateway", c.nic.address))
        elif address in (subnet.network_address, subnet.broadcast_address):
            problems.append(Problem(f"{at}.nic.address", "is the subnet's network or broadcast address", c.nic.address))
    for name, net in intent.networks.items():
        if ipaddress.IPv4Address(net.gateway) not in ipaddress.IPv4Network(net.cidr):
            problems.append(Problem(f"networks.{name}.gateway", f"is outside {net.cidr}", net.gateway))
    for name, p in intent.policies.items():
        for rel, field in [(p.playbook, "playbook"), *((f, "varsFiles") for f in p.vars_files)]:
            if not (PLAYBOOKS_DIR / rel).is_file():
                problems.append(Problem(f"policies.{name}.{field}", "no such file under playbooks/", rel))
    return problems


def validate(
    raw: Mapping[str, Any],
    *,
    project_dir: Path,
    secret_keys: Iterable[str] = (),
    catalog: Catalog | None = None,
) -> ValidatedStack:
    """Turn raw ``fabric:`` config (keys without the namespace) into a validated ``ValidatedStack``.

    Raises ``FabricConfigError`` with every problem found; returns only when there are none.
    """
    problems: list[Problem] = []
    keys = set(secret_keys)
    # Secure values are read through Pulumi's secret API where they are used; only their names
    # take part in validation, so plaintext never enters a model or an error message.
    secret_names = {k.removeprefix("fabric:") for k in keys}
    hidden = secret_names | _referenced_keys(raw)
    # Containers kept in intent files join the inline ones first: one validation for both.
    data = intent_files.expand({k: v for k, v in raw.items() if k not in hidden}, project_dir)
    data = _merge_defaults(data, problems)
    try:
        intent = FabricIntent.model_validate(data)
    except ValidationError as err:
        raise FabricConfigError(problems + _pydantic_problems(err)) from None
    if catalog is None:
        catalog_path = project_dir / intent.image_catalog
        try:
            catalog = load_catalog(catalog_path)
        except ValidationError as err:
            raise FabricConfigError(_pydantic_problems(err, ("imageCatalog", intent.image_catalog))) from None
        except (OSError, ValueError) as err:
            raise FabricConfigError([Problem("imageCatalog", f"cannot be read: {err}", str(catalog_path))]) from None
    images, image_problems = _resolve_images(intent, catalog)
    problems += image_problems
    problems += _check_containers(intent, project_dir)
    problems += check_stateful(intent)
    problems += _check_secret_ref("proxmox.apiToken", intent.proxmox.api_token, keys, raw)
    problems += _check_secret_ref("proxmox.password", intent.proxmox.password, keys, raw)
    problems += _check_secret_ref("connection.privateKey", intent.connection.private_key, keys, raw)
    referenced = {
        r.config for r in (intent.proxmox.api_token, intent.proxmox.password, intent.connection.private_key) if r
    }
    problems += [
        Problem(n, "is a secure value no setting refers to (a typo?)", "[secret]") for n in secret_names - referenced
    ]
    if problems:
        raise FabricConfigError(problems)
    return ValidatedStack(intent=intent, images=images, project_dir=project_dir)
