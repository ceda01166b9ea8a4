"""Explain a preview for the pull request: every replace and delete, why, and its blast radius.

    pulumi preview --json > preview.json
    python -m ops.stack.plan_summary --stack-file Pulumi.prod.yaml preview.json

Reads the engine's JSON steps. A container replaced because its template changed is named
with the image versions (old -> new), with its place in its replica group's rollout.

``--strict`` is the PR's blast-radius gate (``ops.stack.blast_radius``): it exits 1 naming each
broken rule and its resources, unless ``--labels`` holds the override label.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fabric import intent_files
from fabric.intent import image_ref
from fabric.stack_file import read_stack_file
from fabric.tokens import CONTAINER, UNKNOWN
from ops.stack.blast_radius import OVERRIDE_LABEL, Finding, StackShape, findings, rollout_order, shape_of

DESTRUCTIVE = ("replace", "create-replacement", "delete-replaced", "delete")


@dataclass
class Change:
    """One resource the plan replaces, deletes, creates or updates."""

    name: str
    type: str
    op: str
    reasons: list[str] = field(default_factory=list)
    image_change: tuple[str, str] | None = None


@dataclass
class Summary:
    changes: list[Change]
    warnings: list[str]
    findings: list[Finding] = field(default_factory=list)
    rollout: dict[str, str] = field(default_factory=dict)

    @property
    def replaced(self) -> list[str]:
        return sorted({c.name for c in self.changes if c.op == "replace" and c.type == CONTAINER})

    def markdown(self) -> str:
        lines = ["### Samakia Fabric plan", ""]
        significant = [c for c in self.changes if c.op in (*DESTRUCTIVE, "create", "update", "forget")]
        if not significant:
            lines.append("No changes.")
        else:
            lines += ["| resource | change | why | rollout |", "| --- | --- | --- | --- |"]
            for c in significant:
                why = ", ".join(c.reasons) or "-"
                if c.image_change:
                    why = f"image {c.image_change[0]} -> {c.image_change[1]}"
                if c.op == "forget":
                    why = "removed from code; retained on storage for rollback"
                order = self.rollout.get(c.name, "-") if c.type == CONTAINER else "-"
                lines.append(f"| {c.name} ({c.type.rsplit(':', 1)[-1]}) | {c.op} | {why} | {order} |")
        lines += [f"\n**WARNING:** {w}" for w in self.warnings]
        lines += [f"\n**BLOCKED** {f}" for f in self.findings]
        return "\n".join(lines) + "\n"


def _template(state: dict[str, Any] | None) -> str | None:
    if not state:
        return None
    inputs = state.get("inputs") or {}
    os_args = inputs.get("operatingSystem") or {}
    value = os_args.get("templateFileId")
    return value.rsplit("/", 1)[-1] if isinstance(value, str) else None


def _version(template: str | None) -> str:
    # <family>_<version>_amd64.tar.zst -> family@version
    if not template:
        return "?"
    parts = template.split("_")
    return image_ref(parts[0], parts[1]) if len(parts) >= 3 else template


def _identity(state: dict[str, Any] | None) -> str | None:
    """A config policy's image identity (its second trigger), known even during a preview."""
    triggers = ((state or {}).get("inputs") or {}).get("triggers") or []
    value = triggers[1] if len(triggers) > 1 else None
    return value.split("#", 1)[0] if isinstance(value, str) and "@" in value else None


def _new_versions(steps: list[dict[str, Any]]) -> dict[str, str | None]:
    """container name -> the image it moves to, where the template id is not known before apply.

    From the container's config policy when it has one, else from the only template created on
    its node in this plan.
    """
    policies = {
        s["urn"].rsplit("::", 1)[-1].removesuffix("-config"): _identity(s.get("newState"))
        for s in steps
        if s["urn"].endswith("-config")
    }
    created: dict[str, list[str]] = defaultdict(list)
    for s in steps:
        inputs = (s.get("newState") or {}).get("inputs") or {}
        if s.get("op") == "create" and "fileName" in inputs:
            created[inputs.get("nodeName", "")].append(_version(inputs["fileName"]))
    out: dict[str, str | None] = {}
    for s in steps:
        inputs = (s.get("newState") or {}).get("inputs") or {}
        if "vmId" in inputs:
            name = s["urn"].rsplit("::", 1)[-1]
            on_node = created.get(inputs.get("nodeName", ""), [])
            out[name] = policies.get(name) or (on_node[0] if len(on_node) == 1 else None)
    return out


def summarize(preview: dict[str, Any], groups: dict[str, str], shape: StackShape | None = None) -> Summary:
    """Changes by resource; ``groups`` maps container name -> replica group for blast-radius checks.

    With the stack's ``shape`` the summary also carries the gate's findings and the rollout order.
    """
    merged: dict[str, Change] = {}
    steps = list(preview.get("steps", []))
    pending = _new_versions(steps)
    for step in steps:
        op = step.get("op", "same")
        if op in ("same", "read", "refresh"):
            continue
        urn: str = step["urn"]
        name, typ = urn.rsplit("::", 1)[-1], urn.split("::")[-2].rsplit("$", 1)[-1]
        change = merged.setdefault(urn, Change(name=name, type=typ, op=op))
        if op in ("create-replacement", "replace", "delete-replaced"):
            change.op = "replace"
        elif change.op != "replace":
            change.op = op
        reasons = step.get("replaceReasons") or step.get("diffReasons") or []
        change.reasons = sorted(set(change.reasons) | set(reasons))
        if op == "delete" and (step.get("oldState") or {}).get("retainOnDelete"):
            change.op = "forget"  # removed from the stack, kept on Proxmox (retain_on_delete)
        old, new = _template(step.get("oldState")), _template(step.get("newState"))
        if typ == CONTAINER and old and new and old != new:
            after = _version(new) if new != UNKNOWN else (pending.get(name) or "a new template")
            change.image_change = (_version(old), after)
    changes = sorted(merged.values(), key=lambda c: (c.type, c.name))
    warnings = []
    lost: dict[str, set[str]] = defaultdict(set)
    for c in changes:
        if c.type == CONTAINER and c.op in ("replace", "delete") and c.name in groups:
            lost[groups[c.name]].add(c.name)
    for group, names in sorted(lost.items()):
        members = {n for n, g in groups.items() if g == group}
        if len(members) > 1 and names >= members:
            warnings.append(f"every member of replica group '{group}' ({', '.join(sorted(members))}) goes down at once")
    if shape is None:
        return Summary(changes, warnings)
    # With the stack's shape the gate judges groups by their rollout order, not by "all replaced":
    # a group the resource graph rolls member by member never goes down at once.
    return Summary(changes, [], findings(preview, shape), rollout_order(steps, shape))


def groups_of(stack_file: Path) -> dict[str, str]:
    raw, _ = read_stack_file(stack_file)
    raw = intent_files.expand(raw, stack_file.parent)
    defaults = raw.get("containerDefaults") or {}
    out = {}
    for name, spec in (raw.get("containers") or {}).items():
        group = (spec or {}).get("group", defaults.get("group"))
        if group:
            out[name] = group
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("preview", type=Path, help="output of 'pulumi preview --json'")
    parser.add_argument("--stack-file", type=Path, required=True)
    parser.add_argument("--strict", action="store_true", help="exit 1 when the plan breaks a blast-radius rule")
    parser.add_argument("--labels", default="", help=f"the PR's labels, comma-separated; '{OVERRIDE_LABEL}' passes")
    args = parser.parse_args(argv)
    shape = shape_of(args.stack_file)
    summary = summarize(json.loads(args.preview.read_text()), groups_of(args.stack_file), shape)
    sys.stdout.write(summary.markdown())
    overridden = OVERRIDE_LABEL in {label.strip() for label in args.labels.split(",")}
    if summary.findings and overridden:
        sys.stdout.write(f"\nBlast-radius findings overridden by the PR label '{OVERRIDE_LABEL}'.\n")
    return 1 if args.strict and (summary.findings or summary.warnings) and not overridden else 0


if __name__ == "__main__":
    sys.exit(main())
