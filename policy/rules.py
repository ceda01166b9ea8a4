"""The policies: what every stack must keep, checked on the inputs the program actually registers.

Validation (``fabric.validation``) checks the intent before anything is registered; these rules
check the result, whatever code produced it, so a component bug or a hand-written resource that
slips past validation still fails the preview. Each is a plain ``pulumi_policy`` policy object:
tests call ``POLICY.validate(args, report)`` directly.

Stack facts (protected or not, replica groups, policy profiles, the image catalog) come from the
stack's committed file ``Pulumi.<stack>.yaml`` in the working directory the engine runs the pack
in (the project), the stack's name from each resource's URN. Exceptions come from
``policy/settings.yaml``, where every exception names a container and says why.

One limit, stated plainly: ``pulumi_policy`` hands resource inputs to a policy with Pulumi's
secret markers removed (``_PolicyAnalyzerServicer.Analyze`` in pulumi_policy/policy.py 1.21.0
deserializes without keeping them), so "no plaintext secret" is checked by what a value looks
like and where it sits, not by whether Pulumi would encrypt it.
"""

from __future__ import annotations

import functools
import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pulumi_policy import (
    EnforcementLevel,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

from fabric.catalog import Catalog, load_catalog
from fabric.stack_file import read_stack_file
from fabric.tokens import CONTAINER, FILE

Report = Callable[..., None]
"""pulumi_policy's ReportViolation: (message, urn=None)."""
SETTINGS_FILE = Path(__file__).with_name("settings.yaml")
MIN_REASON = 20
_SECRET_SHAPES = {
    "a private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "a Proxmox API token": re.compile(r"[\w.-]+@[\w.-]+![\w.-]+[=:][0-9a-fA-F-]{36}|PVEAPIToken="),
    "a GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}"),
}


@dataclass(frozen=True)
class StackFacts:
    """What the policies need to know about the stack a resource belongs to."""

    name: str
    protected: bool = False
    groups: Mapping[str, str] = field(default_factory=dict)
    profiles: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    catalog: Catalog | None = None


@functools.cache
def _load_settings(path: Path) -> dict[str, Any]:
    return dict(yaml.safe_load(path.read_text()) or {})


def settings() -> dict[str, Any]:
    """The exceptions and lists of ``SETTINGS_FILE`` (read once per path)."""
    return _load_settings(SETTINGS_FILE)


def stack_of(urn: str) -> str:
    """``urn:pulumi:<stack>::<project>::...`` -> ``<stack>``."""
    return urn.split("::", 1)[0].removeprefix("urn:pulumi:")


@functools.cache
def stack_facts(stack: str, project_dir: Path = Path()) -> StackFacts:
    """Facts from the committed stack file; an unreadable or absent file gives none."""
    path = project_dir / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        return StackFacts(stack)
    raw, _ = read_stack_file(path)
    defaults = raw.get("containerDefaults") or {}
    containers = raw.get("containers") or {}
    policies = raw.get("policies") or {}
    groups, profiles = {}, {}
    for name, given in containers.items():
        spec = given or {}
        if group := spec.get("group", defaults.get("group")):
            groups[name] = str(group)
        policy = spec.get("policy", defaults.get("policy"))
        profiles[name] = tuple((policies.get(policy) or {}).get("profiles") or ()) if policy else ()
    catalog = load_catalog(project_dir / raw["imageCatalog"]) if raw.get("imageCatalog") else None
    return StackFacts(stack, bool(raw.get("protected")), groups, profiles, catalog)


def _facts(args: ResourceValidationArgs) -> StackFacts:
    return stack_facts(stack_of(args.urn))


def _reason(kind: str, name: str) -> str:
    reason = (settings().get(kind) or {}).get(name)
    return reason.strip() if isinstance(reason, str) and len(reason.strip()) >= MIN_REASON else ""


def _containers_only(
    check: Callable[[ResourceValidationArgs, Report], None],
) -> Callable[[ResourceValidationArgs, Report], None]:
    def validate(args: ResourceValidationArgs, report: Report) -> None:
        if args.resource_type == CONTAINER:
            check(args, report)

    return validate


@_containers_only
def _unprivileged(args: ResourceValidationArgs, report: Report) -> None:
    if args.props.get("unprivileged") is not True and not _reason("privileged", args.name):
        report(
            f"container {args.name} is privileged: make it unprivileged, or add it under 'privileged' in "
            f"policy/settings.yaml with the reason (at least {MIN_REASON} characters)"
        )


@_containers_only
def _nesting(args: ResourceValidationArgs, report: Report) -> None:
    features = args.props.get("features") or {}
    if features.get("nesting") and not _reason("nesting", args.name):
        report(
            f"container {args.name} enables nesting, which is not declared: add it under 'nesting' in "
            f"policy/settings.yaml with the reason (at least {MIN_REASON} characters)"
        )


@_containers_only
def _tags(args: ResourceValidationArgs, report: Report) -> None:
    tags = [str(t) for t in args.props.get("tags") or []]
    environments = [str(e) for e in settings().get("environments") or []]
    found = [t for t in tags if t in environments]
    if len(found) != 1:
        report(f"container {args.name} must carry exactly one environment tag of {environments} (has {tags})")
    group = _facts(args).groups.get(args.name)
    if group and group not in tags:
        report(f"container {args.name} must carry its replica group's tag '{group}' (has {tags})")


@_containers_only
def _stateful_protection(args: ResourceValidationArgs, report: Report) -> None:
    facts = _facts(args)
    stateful = set(settings().get("stateful_profiles") or ())
    if not facts.protected or not stateful & set(facts.profiles.get(args.name, ())):
        return
    if args.props.get("protection") is not True and not args.opts.protect:
        report(
            f"container {args.name} runs a stateful profile in protected stack {facts.name} "
            "and must have protection enabled"
        )


def _templates(args: ResourceValidationArgs, report: Report) -> None:
    if args.resource_type != FILE or args.props.get("contentType") != "vztmpl":
        return
    name, checksum = args.props.get("fileName"), args.props.get("checksum")
    if not checksum or args.props.get("checksumAlgorithm") != "sha256":
        report(f"template {name} must be downloaded with a sha256 checksum, which Proxmox verifies")
        return
    catalog = _facts(args).catalog
    entries = [b for builds in (catalog.families.values() if catalog else []) for b in builds]
    if not any(b.file_name == name and b.sha256 == checksum for b in entries):
        report(f"template {name} (sha256 {str(checksum)[:12]}...) is not an entry of the stack's image catalog")


def _known(container: Any, key: Any) -> tuple[bool, Any]:
    """``container[key]``, or (False, None) for a value only the apply will know.

    The analyzer hands inputs wrapped so that reading an unknown raises
    (``pulumi_policy/proxy.py``, ``unknown_checking_proxy``); one unknown must not stop the walk
    over every known value. The apply runs the policy again with those values known.
    """
    try:
        return True, container[key]
    except UnknownValueError:
        return False, None


def _strings(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every (path, leaf) of an input; JSON carried in a string (a command's stdin) is walked too."""
    if isinstance(value, Mapping):
        for key in list(value):
            known, item = _known(value, key)
            if known:
                yield from _strings(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, Sequence) and not isinstance(value, str):
        # The analyzer's lists are Sequences (a proxy), not lists.
        for i in range(len(value)):
            known, item = _known(value, i)
            if known:
                yield from _strings(item, f"{path}[{i}]")
    elif isinstance(value, str) and value[:1] in "{[":
        try:
            yield from _strings(json.loads(value), path)
        except ValueError:
            yield path, value
    else:
        yield path, value


def _plaintext_secrets(args: ResourceValidationArgs, report: Report) -> None:
    if args.resource_type.startswith("pulumi:providers:"):
        for key in ("password", "apiToken"):
            if key in args.props and _known(args.props, key)[1]:
                report(
                    f"provider {args.name} holds '{key}' as an input, so it enters state: let the provider "
                    "read it from its environment instead (PROXMOX_VE_API_TOKEN / PROXMOX_VE_PASSWORD)"
                )
    for path, leaf in _strings(args.props):
        if not isinstance(leaf, str):
            continue
        for what, shape in _SECRET_SHAPES.items():
            if shape.search(leaf):
                report(f"{args.name}: input '{path}' holds {what} in plain text; reference it instead")


def _distinct_nodes(args: StackValidationArgs, report: Report) -> None:
    nodes: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for res in args.resources:
        if res.resource_type != CONTAINER:
            continue
        group = stack_facts(stack_of(res.urn)).groups.get(res.name)
        if group:
            nodes[group][str(res.props.get("nodeName"))].append(res.name)
    for group, by_node in sorted(nodes.items()):
        for node, members in sorted(by_node.items()):
            if len(members) > 1:
                report(f"replica group '{group}' has {', '.join(sorted(members))} on the same node {node}")


def _resource_policy(name: str, description: str, validate: Any) -> ResourceValidationPolicy:
    return ResourceValidationPolicy(name, description, validate, EnforcementLevel.MANDATORY)


UNPRIVILEGED = _resource_policy(
    "unprivileged-containers", "Containers are unprivileged unless excepted.", _unprivileged
)
CATALOGUED_TEMPLATES = _resource_policy(
    "catalogued-templates", "Templates come from the image catalog, with their sha256.", _templates
)
NO_PLAINTEXT_SECRETS = _resource_policy(
    "no-plaintext-secrets", "No credential in plain text in any input.", _plaintext_secrets
)
REQUIRED_TAGS = _resource_policy("required-tags", "Containers carry one environment tag and their group.", _tags)
STATEFUL_PROTECTION = _resource_policy(
    "protected-stateful-groups", "Stateful groups are protected in protected stacks.", _stateful_protection
)
DECLARED_NESTING = _resource_policy("declared-nesting", "Nesting only where declared.", _nesting)
DISTINCT_NODES = StackValidationPolicy(
    "replicas-on-distinct-nodes",
    "Members of a replica group sit on distinct nodes.",
    _distinct_nodes,
    EnforcementLevel.MANDATORY,
)

POLICIES = [
    UNPRIVILEGED,
    CATALOGUED_TEMPLATES,
    NO_PLAINTEXT_SECRETS,
    REQUIRED_TAGS,
    STATEFUL_PROTECTION,
    DISTINCT_NODES,
    DECLARED_NESTING,
]
