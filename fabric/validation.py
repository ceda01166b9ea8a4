"""Validate a stack's raw ``fabric:`` config into a resolved, cross-checked fabric.

Everything here runs before any resource is registered: a stack with any problem raises
one ``FabricConfigError`` listing all of them, and Pulumi registers nothing.
"""

from __future__ import annotations

import ipaddress
import re
import typing
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.alias_generators import to_camel

from . import intent_files, shared_intent
from .catalog import Catalog, ImageBuild, load_catalog
from .errors import ABSENT, FabricConfigError, InputError, Problem
from .intent import ContainerSpec, FabricIntent, NetworkSpec, ProxmoxSettings, SecretRef, parse_image_ref
from .protection import PROTECTED_STACKS, is_protected
from .repo_checks import check_catalog_path, check_policy
from .sites import check_sites
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
    """The stack's intent, every rule checked."""
    images: dict[str, ResolvedImage]
    """Each image alias resolved to its catalog entry."""
    project_dir: Path
    """The Pulumi project the stack's relative paths (catalog, intent files, playbooks) resolve in."""

    def image_of(self, container: ContainerSpec) -> ResolvedImage:
        """The resolved image a container uses (its own alias or the defaults')."""
        return self.images[container.image]


_PLAIN_SEGMENT = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")


def _segment(part: int | str) -> str:
    # Keys come from the operator's file: hostile ones (newlines, escapes) are quoted so each
    # problem stays on one line of the report.
    text = str(part)
    return text if _PLAIN_SEGMENT.match(text) else repr(text[:64])


def _loc(loc: Iterable[int | str]) -> str:
    return ".".join(_segment(part) for part in loc) or "<root>"


def _pydantic_problems(err: ValidationError, prefix: tuple[str, ...] = ()) -> list[Problem]:
    problems = []
    for e in err.errors(include_url=False):
        loc = prefix + tuple(str(p) for p in e["loc"])
        message = e["msg"].removeprefix("Value error, ")
        # An unknown key may hold anything, a misplaced credential included: name it, never echo it.
        shown = e["type"] != "extra_forbidden"
        if e["type"] == "extra_forbidden":
            message = "is not a known setting (a typo?)"
        if loc and loc[-1] == "[key]":
            # A bad mapping key: it names resources (Pulumi names, inventory names, PVE ids).
            loc = loc[:-1]
            message = f"is not a valid name: {message}"
        value = ABSENT if e["type"] == "missing" else e.get("input")
        problems.append(Problem(_loc(loc), message, value, shown))
    return problems


_CONTAINER_KEYS = {f.alias or to_camel(n) for n, f in ContainerSpec.model_fields.items()} | set(
    ContainerSpec.model_fields
)


def _merge_defaults(raw: dict[str, Any], problems: list[Problem]) -> tuple[dict[str, Any], dict[str, set[str]]]:
    """Fold ``containerDefaults`` into each container; the container's own keys win.

    Returns the merged config and, per container, the keys it took from the defaults, so a
    problem in a default is reported once at ``containerDefaults`` instead of once per container.
    """
    defaults = raw.pop(DEFAULTS_KEY, None)
    if defaults is None:
        return raw, {}
    if not isinstance(defaults, dict):
        problems.append(Problem(DEFAULTS_KEY, "must be a mapping of container fields", type(defaults).__name__))
        return raw, {}
    for key in [k for k in defaults if k not in _CONTAINER_KEYS]:
        problems.append(Problem(f"{DEFAULTS_KEY}.{_segment(key)}", "is not a known setting (a typo?)", None, False))
        defaults = {k: v for k, v in defaults.items() if k != key}
    inherited: dict[str, set[str]] = {}
    containers = raw.get("containers")
    if isinstance(containers, dict):
        merged = {}
        for name, spec in containers.items():
            if isinstance(spec, dict):
                merged[name] = {**defaults, **spec}
                inherited[str(name)] = set(defaults) - set(spec)
            else:
                merged[name] = spec
        raw["containers"] = merged
    return raw, inherited


def _blame_defaults(problems: list[Problem], inherited: dict[str, set[str]]) -> list[Problem]:
    """Move a container's problem in a field it inherited to ``containerDefaults.<field>``."""
    out = []
    for p in problems:
        parts = p.path.split(".")
        if len(parts) >= 3 and parts[0] == "containers" and parts[2] in inherited.get(parts[1], ()):
            out.append(Problem(".".join([DEFAULTS_KEY, *parts[2:]]), p.message, p.value, p.shown))
        else:
            out.append(p)
    return out


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


def _resolve_images(
    images: Mapping[str, str], catalog: Catalog, catalog_rel: str
) -> tuple[dict[str, ResolvedImage], list[Problem]]:
    resolved: dict[str, ResolvedImage] = {}
    problems: list[Problem] = []
    for alias, ref in images.items():
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
                f"family '{family}' has no version {version} in {catalog_rel}; catalogued: {', '.join(known)}"
                if known
                else f"family '{family}' is not in {catalog_rel} (families: {families})"
            )
            problems.append(Problem(f"images.{alias}", why, ref))
            continue
        resolved[alias] = ResolvedImage(alias, family, build)
    return resolved, problems


@dataclass
class _Parts:
    """What could be read of the intent: whole sections, or the entries that parsed on their own.

    Cross-field checks run on these even when a type error elsewhere stopped the whole model,
    so one pass reports every problem. ``known`` holds every key an operator wrote per section
    (parsed or not), so a reference to a broken entry is not also reported as unknown.
    """

    values: dict[str, Any]
    known: dict[str, set[str]]

    def get(self, name: str) -> Any:
        return self.values.get(name)


def _parts(intent: FabricIntent | None, data: Mapping[str, Any], err: ValidationError | None) -> _Parts:
    known = {
        name: {str(k) for k in data[alias]} for name, alias in _ALIASES.items() if isinstance(data.get(alias), dict)
    }
    if intent is not None:
        return _Parts({name: getattr(intent, name) for name in _ALIASES}, known)
    broken: dict[str, set[str]] = defaultdict(set)
    whole_broken: set[str] = set()
    for e in err.errors() if err else ():
        loc = e["loc"]
        if not loc:
            continue
        if len(loc) >= 2 and _is_mapping_field(str(loc[0])):
            broken[str(loc[0])].add(str(loc[1]))
        else:
            whole_broken.add(str(loc[0]))
    values: dict[str, Any] = {}
    for name, alias in _ALIASES.items():
        field = FabricIntent.model_fields[name]
        if alias in whole_broken:
            continue
        given = data.get(alias)
        if alias not in data:
            if field.is_required():
                continue
            values[name] = field.get_default(call_default_factory=True)
            continue
        item_model = _mapping_model(name)
        if item_model is not None and isinstance(given, dict):
            entries = {}
            for key, spec in given.items():
                if str(key) in broken[alias]:
                    continue
                if item_model is object:
                    entries[key] = spec
                    continue
                try:
                    entries[key] = typing.cast(type[BaseModel], item_model).model_validate(spec)
                except ValidationError:
                    continue
            values[name] = entries
            continue
        try:
            values[name] = TypeAdapter(typing.cast(Any, field.annotation)).validate_python(given, strict=True)
        except ValidationError:
            continue
    return _Parts(values, known)


_ALIASES = {name: (f.alias or to_camel(name)) for name, f in FabricIntent.model_fields.items()}


def _is_mapping_field(alias: str) -> bool:
    names = [n for n, a in _ALIASES.items() if a == alias]
    return bool(names) and typing.get_origin(FabricIntent.model_fields[names[0]].annotation) is dict


def _mapping_model(name: str) -> type[BaseModel] | object | None:
    """For a ``dict[K, V]`` field: V's model class, or ``object`` for plain values; None otherwise."""
    annotation = FabricIntent.model_fields[name].annotation
    if typing.get_origin(annotation) is not dict:
        return None
    value = typing.get_args(annotation)[1]
    return value if isinstance(value, type) and issubclass(value, BaseModel) else object


def _check_networks(networks: Mapping[str, NetworkSpec]) -> list[Problem]:
    problems = []
    for name, net in networks.items():
        subnet = ipaddress.IPv4Network(net.cidr)
        gateway = ipaddress.IPv4Address(net.gateway)
        if gateway not in subnet:
            problems.append(Problem(f"networks.{name}.gateway", f"is outside {net.cidr}", net.gateway))
        elif subnet.prefixlen < 31 and gateway in (subnet.network_address, subnet.broadcast_address):
            problems.append(
                Problem(f"networks.{name}.gateway", "is the subnet's network or broadcast address", net.gateway)
            )
    return problems


def _check_containers(parts: _Parts) -> list[Problem]:
    problems: list[Problem] = []
    cs: Mapping[str, ContainerSpec] = parts.get("containers") or {}
    nodes, networks = parts.known.get("nodes"), parts.get("networks")
    images, policies = parts.known.get("images"), parts.known.get("policies", set())
    problems += _duplicates("vmid", ((n, c.vmid) for n, c in cs.items()))
    problems += _duplicates("hostname", ((n, c.hostname) for n, c in cs.items()))
    problems += _duplicates("nic.address", ((n, c.nic.address) for n, c in cs.items()))
    for name, c in cs.items():
        at = f"containers.{name}"
        if nodes is not None and c.node not in nodes:
            problems.append(Problem(f"{at}.node", f"unknown node; known: {', '.join(sorted(nodes))}", c.node))
        if images is not None and c.image not in images:
            known = ", ".join(sorted(images))
            problems.append(Problem(f"{at}.image", f"unknown image alias; known: {known}", c.image))
        if c.policy is not None and "policies" in parts.values and c.policy not in policies:
            known = ", ".join(sorted(policies)) or "none"
            problems.append(Problem(f"{at}.policy", f"unknown policy; known: {known}", c.policy))
        if networks is None or c.nic.network in parts.known.get("networks", set()) - set(networks):
            continue  # the network itself is broken and reported
        net = networks.get(c.nic.network)
        if net is None:
            known = ", ".join(sorted(parts.known.get("networks", set())))
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
    return problems


def _check_policies(parts: _Parts) -> list[Problem]:
    problems = []
    for name, p in (parts.get("policies") or {}).items():
        problems += check_policy(
            name, playbook=p.playbook, vars_files=p.vars_files, profiles=p.profiles, variables=p.vars
        )
    return problems


def _check_protection(parts: _Parts, given: object, stack: str | None) -> tuple[bool, list[Problem]]:
    protected = is_protected(stack, parts.get("protected") is True)
    problems = []
    if stack in PROTECTED_STACKS and given is not None and given is not True:
        problems.append(
            Problem(
                "protected",
                f"stack '{stack}' is protected by the project (fabric/protection.py); "
                "config cannot switch protection off",
                given,
            )
        )
    proxmox: ProxmoxSettings | None = parts.get("proxmox")
    if protected and proxmox is not None and proxmox.insecure:
        problems.append(
            Problem(
                "proxmox.insecure",
                "a protected stack always verifies TLS; trust a private CA through SSL_CERT_FILE instead",
                True,
            )
        )
    return protected, problems


def _load_catalog(project_dir: Path, rel: str) -> tuple[Catalog | None, list[Problem]]:
    path, problems = check_catalog_path(project_dir, rel)
    if path is None:
        return None, problems
    try:
        return load_catalog(path, missing_ok=False), []
    except InputError as err:
        message = str(err).replace(str(path), rel, 1)
        return None, [Problem("imageCatalog", f"is not a usable catalog: {message}", rel)]


def validate(
    raw: Mapping[str, Any],
    *,
    project_dir: Path,
    secret_keys: Iterable[str] = (),
    catalog: Catalog | None = None,
    stack: str | None = None,
) -> ValidatedStack:
    """Turn raw ``fabric:`` config (keys without the namespace) into a validated ``ValidatedStack``.

    ``stack`` is the stack's name, when known: a stack the project protects
    (``fabric.protection``) stays protected whatever its config says.
    Raises ``FabricConfigError`` with every problem found; returns only when there are none.
    """
    problems: list[Problem] = []
    keys = set(secret_keys)
    # Secure values are read through Pulumi's secret API where they are used; only their names
    # take part in validation, so plaintext never enters a model or an error message.
    secret_names = {k.removeprefix("fabric:") for k in keys}
    hidden = secret_names | _referenced_keys(raw)
    # Containers kept in intent files join the inline ones first: one validation for both.
    data = {k: v for k, v in raw.items() if k not in hidden}
    try:
        data = shared_intent.expand(data, project_dir)
    except shared_intent.SharedFileError as err:
        problems += err.problems
        data = err.joined
    except FabricConfigError as err:
        problems += err.problems
        data.pop(shared_intent.KEY, None)
    try:
        data = intent_files.expand(data, project_dir)
    except FabricConfigError as err:
        problems += err.problems
        data.pop(intent_files.KEY, None)
    data, inherited = _merge_defaults(data, problems)
    intent: FabricIntent | None = None
    error: ValidationError | None = None
    try:
        intent = FabricIntent.model_validate(data)
    except ValidationError as err:
        error = err
        problems += _blame_defaults(_pydantic_problems(err), inherited)
    parts = _parts(intent, data, error)
    images: dict[str, ResolvedImage] = {}
    catalog_rel = parts.get("image_catalog")
    if catalog is None and isinstance(catalog_rel, str):
        catalog, catalog_problems = _load_catalog(project_dir, catalog_rel)
        problems += catalog_problems
    if catalog is not None and parts.get("images") is not None:
        images, image_problems = _resolve_images(parts.get("images"), catalog, catalog_rel or "the catalog")
        problems += image_problems
    problems += _blame_defaults(_check_containers(parts), inherited)
    problems += _check_networks(parts.get("networks") or {})
    problems += _check_policies(parts)
    protected, protection_problems = _check_protection(parts, raw.get("protected"), stack)
    problems += protection_problems
    refs = {
        "proxmox.apiToken": getattr(parts.get("proxmox"), "api_token", None),
        "proxmox.password": getattr(parts.get("proxmox"), "password", None),
        "connection.privateKey": getattr(parts.get("connection"), "private_key", None),
    }
    for path, ref in refs.items():
        problems += _check_secret_ref(path, ref, keys, raw)
    referenced = {r.config for r in refs.values() if r is not None}
    if "proxmox" in parts.values and "connection" in parts.values:
        problems += [
            Problem(n, "is a secure value no setting refers to (a typo?)", "[secret]")
            for n in secret_names - referenced
        ]
    if intent is not None:
        if protected != intent.protected:
            intent = intent.model_copy(update={"protected": protected})
        problems += check_stateful(intent)
        problems += check_sites(intent, stack, project_dir)
    if problems or intent is None:
        raise FabricConfigError(problems)
    return ValidatedStack(intent=intent, images=images, project_dir=project_dir)
