"""The upstream provider's schema facts, mapped to the names the ``pulumi_proxmoxve`` SDK uses.

``providers/conformance/bpg-<version>.json`` is dumped by ``scripts/conformance.sh`` from
bpg/terraform-provider-proxmox's own Go packages (the module pulumi-proxmoxve 8.6.0 bridges).
The stand-in ``proxmoxve`` provider takes its replace paths, defaults and computed paths from
here instead of a hand-written table, and ``check_standin`` lists every place where the stand-in's
behaviour would differ from what the dump says (tests/unit/test_conformance.py).

Names: Terraform's ``network_interface`` block is ``networkInterfaces`` in Pulumi; a block with
``MaxItems: 1`` (``disk``) is a single object, not a list. Rather than re-implementing the bridge's
naming rules, each Terraform name is looked up among the SDK's own input/output property names
(``pulumi._types.input_type_py_to_pulumi_names``), following the SDK's nested ``*Args`` types.
"""

from __future__ import annotations

import importlib
import json
import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BPG_VERSION = "v0.112.0"
FIXTURE_DIR = Path(__file__).resolve().parent / "conformance"
FIXTURE = FIXTURE_DIR / f"bpg-{BPG_VERSION}.json"

#: Terraform resource -> (pulumi_proxmoxve module attribute path of its Args class, Pulumi type name)
#: In 8.x the classes without "Legacy" bridge bpg's short ``proxmox_*`` names (``download.File`` is
#: ``proxmox_download_file``; ``download.FileLegacy`` is ``proxmox_virtual_environment_download_file``,
#: with the same schema); the LXC resource exists only as ``ContainerLegacy``.
RESOURCES: dict[str, tuple[str, str]] = {
    "proxmox_virtual_environment_container": ("ContainerLegacyArgs", "ContainerLegacy"),
    "proxmox_download_file": ("download.FileArgs", "File"),
    "proxmox_haresource": ("HaresourceArgs", "Haresource"),
    "proxmox_pool_membership": ("pool.MembershipArgs", "Membership"),
}


@dataclass(frozen=True)
class ResourceFacts:
    """One resource's facts in Pulumi names (dotted paths, no list indexes)."""

    type: str
    replace: frozenset[str]
    """Paths whose change replaces the resource (ForceNew / RequiresReplace)."""
    defaults: dict[str, Any]
    """Path -> the default the provider fills in when the program leaves it unset."""
    computed: frozenset[str]
    """Paths the provider may compute (Computed), unknown in a preview when unset."""
    customize_diff: bool
    """SDKv2 CustomizeDiff: conditional replacements the schema cannot show (coded by hand)."""
    paths: frozenset[str] = field(default=frozenset())
    """Every mapped attribute path."""
    unmapped: tuple[str, ...] = field(default=())
    """Terraform paths with no Pulumi name (the bridge drops them, e.g. ``id``)."""


def load(path: Path = FIXTURE) -> dict[str, Any]:
    with path.open(encoding="utf-8") as fh:
        dump: dict[str, Any] = json.load(fh)
    if dump.get("module") != "github.com/bpg/terraform-provider-proxmox" or not dump.get("resources"):
        raise ValueError(f"{path}: not a conformance dump of bpg/terraform-provider-proxmox")
    return dump


def _sdk_class(dotted: str) -> type:
    """``download.FileArgs`` -> the class. The SDK loads its submodules lazily; importing them by
    name takes the import lock, where an attribute walk from several threads at once can meet a
    half-initialised module ("has no attribute 'FileArgs'")."""
    module, _, name = dotted.rpartition(".")
    loaded = importlib.import_module(f"pulumi_proxmoxve.{module}" if module else "pulumi_proxmoxve")
    return getattr(loaded, name)  # type: ignore[no-any-return]


def _names(cls: type) -> dict[str, str]:
    from pulumi import _types

    return dict(_types.input_type_py_to_pulumi_names(cls))


_ARGS_REF = re.compile(r"ForwardRef\('(\w+Args)'\)")


def _nested(cls: type, py_name: str) -> type | None:
    """The nested ``*Args`` class of property ``py_name`` (list element or object)."""
    prop = cls.__dict__.get(py_name)
    if not isinstance(prop, property) or prop.fget is None:
        return None
    found = _ARGS_REF.search(str(prop.fget.__annotations__.get("return", "")))
    if not found:
        return None
    module = __import__(cls.__module__, fromlist=["_"])
    nested = getattr(module, found[1], None)
    return nested if isinstance(nested, type) else None


def _py_candidates(tf_name: str) -> Iterator[str]:
    yield tf_name
    yield tf_name + "s"  # network_interface -> network_interfaces, ip_config -> ip_configs
    yield tf_name + "es"
    if tf_name.endswith("y"):
        yield tf_name[:-1] + "ies"


def pulumi_path(args_cls: type, tf_path: str) -> str | None:
    """``initialization.user_account.keys`` -> ``initialization.userAccount.keys`` (None if unmapped)."""
    cls: type | None = args_cls
    out = []
    for seg in tf_path.split("."):
        if cls is None:
            return None
        names = _names(cls)
        py = next((c for c in _py_candidates(seg) if c in names), None)
        if py is None:
            return None
        out.append(names[py])
        cls = _nested(cls, py)
    return ".".join(out)


def facts_from_dump(dump: dict[str, Any]) -> dict[str, ResourceFacts]:
    """Pulumi type name -> its facts."""
    out: dict[str, ResourceFacts] = {}
    for res in dump["resources"]:
        if res["name"] not in RESOURCES:
            continue
        args_name, typ = RESOURCES[res["name"]]
        args_cls = _sdk_class(args_name)
        replace, computed, defaults, unmapped, paths = set(), set(), {}, [], set()
        for attr in res["attributes"]:
            path = pulumi_path(args_cls, attr["path"])
            if path is None:
                unmapped.append(attr["path"])
                continue
            paths.add(path)
            if attr.get("force_new"):
                replace.add(path)
            if attr.get("computed"):
                computed.add(path)
            if "default" in attr:
                defaults[path] = attr["default"]
        out[typ] = ResourceFacts(
            type=typ,
            replace=frozenset(replace),
            defaults=defaults,
            computed=frozenset(computed),
            customize_diff=bool(res.get("customize_diff")),
            paths=frozenset(paths),
            unmapped=tuple(sorted(unmapped)),
        )
    return out


_FACTS: dict[str, ResourceFacts] = {}
_FACTS_LOCK = threading.Lock()


def facts() -> dict[str, ResourceFacts]:
    """The committed dump's facts, read once per process (the provider serves RPCs from threads)."""
    with _FACTS_LOCK:
        if not _FACTS:
            _FACTS.update(facts_from_dump(load()))
        return _FACTS


def strip_indexes(path: str) -> str:
    """``networkInterfaces[0].bridge`` -> ``networkInterfaces.bridge``."""
    return re.sub(r"\[\d+\]", "", path)


def forces_replace(facts_: ResourceFacts, path: str) -> bool:
    """A change at ``path`` (or inside it) replaces when the path or one of its parents is ForceNew."""
    parts = strip_indexes(path).split(".")
    return any(".".join(parts[: i + 1]) in facts_.replace for i in range(len(parts)))


def leaf_paths(value: Any, base: str = "") -> Iterable[str]:
    """Every leaf path set in a (nested) input value, lists indexed."""
    if isinstance(value, dict) and value:
        for k, v in value.items():
            yield from leaf_paths(v, f"{base}.{k}" if base else k)
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        for i, v in enumerate(value):
            yield from leaf_paths(v, f"{base}[{i}]")
    else:
        yield base


def _bump(value: Any) -> Any:
    """A different value of the same kind (what a program change at that path looks like)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    if isinstance(value, list):
        return [*value, "changed"]
    return f"{value}-changed"


def _set_path(props: Any, path: str, value: Any) -> None:
    parts = re.findall(r"[^.\[\]]+|\[\d+\]", path)
    node = props
    for part in parts[:-1]:
        node = node[int(part[1:-1])] if part.startswith("[") else node[part]
    last = parts[-1]
    if last.startswith("["):
        node[int(last[1:-1])] = value
    else:
        node[last] = value


def _get_path(props: Any, path: str) -> Any:
    node = props
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        node = node[int(part[1:-1])] if part.startswith("[") else node[part]
    return node


def divergences(provider: Any, typ: str, rid: str, sample: dict[str, Any], facts_: ResourceFacts) -> list[str]:
    """Where the stand-in's behaviour for ``typ`` differs from ``facts_`` (empty when it conforms).

    For every leaf the sample inputs set (the fabric's own shape), a change there must replace
    the resource exactly when upstream says so (ForceNew / RequiresReplace, plus the container's
    CustomizeDiff on ``vmId``), and a change that does not replace must be one the stand-in applies
    in place (``provider.in_place``); otherwise it would be silently dropped. Then every scalar
    default must be what ``provider.check`` fills in, and every computed top-level key unset by the
    program must be unknown in a preview create.
    """
    import copy

    from fabric.tokens import UNKNOWN
    from providers.base import diff_paths

    out = []
    paths = sorted(set(leaf_paths(sample)))
    for path in paths:
        if strip_indexes(path) not in _all_paths(facts_):
            out.append(f"{typ}.{path}: not an attribute of the upstream resource")
            continue
        news = copy.deepcopy(sample)
        _set_path(news, path, _bump(_get_path(sample, path)))
        changed = [p for k in news for p in diff_paths(sample.get(k), news[k], k)]
        got = path.split(".", 1)[0].split("[", 1)[0] in provider.replaces(typ, rid, sample, news, changed)
        want = forces_replace(facts_, path) or (facts_.customize_diff and strip_indexes(path) == "vmId")
        if got != want:
            verb = {True: "replaces", False: "updates in place"}
            out.append(f"{typ}.{path}: stand-in {verb[got]}, upstream {verb[want]}")
        elif not want and not any(
            strip_indexes(path) == p or strip_indexes(path).startswith(p + ".") for p in provider.in_place.get(typ, ())
        ):
            out.append(f"{typ}.{path}: upstream updates it in place, the stand-in's update does not apply it")
    checked = provider.check(typ, {})
    for path, value in sorted(facts_.defaults.items()):
        if "." in path or isinstance(value, dict | list):
            continue
        if checked.get(path) != value:
            out.append(f"{typ}.{path}: upstream default {value!r}, stand-in check gives {checked.get(path)!r}")
    preview = provider.preview_outputs(typ, dict(sample))
    for path in sorted(facts_.computed):
        if "." not in path and path not in sample and preview.get(path) != UNKNOWN:
            out.append(f"{typ}.{path}: upstream computes it, the stand-in's preview does not leave it unknown")
    return out


def _all_paths(facts_: ResourceFacts) -> frozenset[str]:
    return facts_.paths
