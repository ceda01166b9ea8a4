"""Explain a preview for the pull request: every replace and delete, why, and its blast radius.

    pulumi preview --json > preview.json
    python -m ops.stack.plan_summary --stack-file Pulumi.prod.yaml preview.json

Reads the engine's JSON steps. A container replaced because its template changed is named
with the image versions (old -> new), with its place in its replica group's rollout.

``--strict`` is the PR's blast-radius gate (``ops.stack.blast_radius``): it exits 1 naming each
broken rule and its resources, unless ``--labels`` holds the override label.

Exit status: 0 the plan is summarized (and, with ``--strict``, passes the gate); 1 the gate
found a blast-radius problem; 2 the input is unusable: the preview failed (its error
diagnostics are listed), the preview file is missing, empty, truncated or not a preview, or the
stack file is missing or invalid. Each unusable input is one line naming the file and field.
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
from fabric.errors import EXIT_FINDINGS, EXIT_OK, EXIT_UNUSABLE, FabricConfigError, InputError
from fabric.intent import image_ref
from fabric.paths import PROJECT_ROOT
from fabric.stack_file import read_stack_file
from fabric.tokens import COMMAND, CONTAINER, DATA_VOLUME, UNKNOWN
from fabric.validation import validate
from ops.stack.blast_radius import (
    OVERRIDE_LABEL,
    Finding,
    StackShape,
    changed_inputs,
    findings,
    is_protected,
    rollout_order,
    shape_of,
)
from ops.stack.validate import stack_name

DESTRUCTIVE = ("replace", "create-replacement", "delete-replaced", "delete")
COMMENT_LIMIT = 65536
"""GitHub's limit on one issue or pull-request comment body, in characters."""
FULL_TABLE = 50
"""Up to this many changes, the plain table; above, counted and collapsed (``Summary.collapsed``)."""
_WEIGHT = {op: i for i, op in enumerate(("delete", "replace", "update", "create", "forget"))}


def _by_weight(item: tuple[tuple[str, str], int]) -> tuple[int, str, str]:
    (op, kind), _ = item
    return _WEIGHT.get(op, len(_WEIGHT)), op, kind


@dataclass
class Change:
    """One resource the plan replaces, deletes, creates or updates."""

    name: str
    type: str
    op: str
    reasons: list[str] = field(default_factory=list)
    image_change: tuple[str, str] | None = None
    protected: bool = False
    """A delete of something under protection (Pulumi's ``protect`` or Proxmox's ``protection``)."""
    move: tuple[str, str] | None = None
    """A container re-created on another node (old, new): the recovery from a lost node."""
    data: str = ""
    """For a move: what happens to the container's data volumes (a reviewer must see it)."""

    @property
    def why(self) -> str:
        """The reason a reviewer reads: the node move and its data, the image move, the retained
        file, or the changed inputs."""
        if self.move:
            return f"moves {self.move[0]} -> {self.move[1]}; data: {self.data}"
        if self.image_change:
            return f"image {self.image_change[0]} -> {self.image_change[1]}"
        if self.op == "forget":
            return "removed from code; retained on storage for rollback"
        if self.op == "delete" and not self.reasons:
            return "removed from code"
        return ", ".join(self.reasons) or "-"


@dataclass
class Summary:
    changes: list[Change]
    warnings: list[str]
    findings: list[Finding] = field(default_factory=list)
    rollout: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    """The preview's error diagnostics: a failed preview is no plan to review."""

    @property
    def replaced(self) -> list[str]:
        return sorted({c.name for c in self.changes if c.op == "replace" and c.type == CONTAINER})

    def table(self, changes: list[Change]) -> list[str]:
        """The Markdown table of ``changes``: kind, operation (protected ones marked), reason, rollout."""
        lines = ["| resource | change | why | rollout |", "| --- | --- | --- | --- |"]
        for c in changes:
            order = self.rollout.get(c.name, "-") if c.type == CONTAINER else "-"
            op = f"**{c.op} (protected)**" if c.protected else c.op
            lines.append(f"| {c.name} ({c.type.rsplit(':', 1)[-1]}) | {op} | {c.why} | {order} |")
        return lines

    def collapsed(self, changes: list[Change], budget: int) -> list[str]:
        """The changes for a reader at any size: up to ``FULL_TABLE`` of them as the plain table;
        more are counted by change and kind, then listed in a collapsed ``<details>`` block,
        replaces and deletes first, with as many rows as fit in ``budget`` characters and the
        rest counted (the full plan is the saved ``preview.json``)."""
        if len(changes) <= FULL_TABLE:
            return self.table(changes)
        counts: dict[tuple[str, str], int] = defaultdict(int)
        for c in changes:
            counts[(c.op, c.type.rsplit(":", 1)[-1])] += 1
        lines = [f"{len(changes)} changes, counted:", "", "| change | kind | count |", "| --- | --- | ---: |"]
        lines += [f"| {op} | {kind} | {n} |" for (op, kind), n in sorted(counts.items(), key=_by_weight)]
        ordered = sorted(changes, key=lambda c: (0 if c.op in DESTRUCTIVE or c.protected else 1, c.op, c.name))
        rows = self.table(ordered)
        head, body = rows[:2], rows[2:]
        lines += ["", f"<details><summary>Every change ({len(changes)} rows, replaces and deletes first)</summary>", ""]
        used = sum(len(x) + 1 for x in lines) + sum(len(x) + 1 for x in head) + 200
        kept = []
        for row in body:
            if used + len(row) + 1 > budget:
                break
            kept.append(row)
            used += len(row) + 1
        lines += head + kept
        if len(kept) < len(body):
            lines += [
                "",
                f"... and {len(body) - len(kept)} more rows, not shown to stay within the comment size limit: "
                "every change is in the saved plan (preview.json).",
            ]
        return [*lines, "", "</details>"]

    def markdown(self) -> str:
        lines = ["### Samakia Fabric plan", ""]
        significant = [c for c in self.changes if c.op in (*DESTRUCTIVE, "create", "update", "forget")]
        if self.errors:
            lines.append("**PREVIEW FAILED**: there is no plan to review; fix these and push again:")
            lines += [f"- {e}" for e in self.errors]
            lines.append("")
        if not significant and not self.errors:
            lines.append("No changes.")
        elif significant:
            lines += self.collapsed(significant, COMMENT_LIMIT // 2)
        lines += [f"\n**WARNING:** {w}" for w in self.warnings]
        lines += [f"\n**BLOCKED** {f.brief()}" for f in self.findings]
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
        reasons = list(step.get("replaceReasons") or step.get("diffReasons") or changed_inputs(step, op))
        if typ == CONTAINER and any(
            k.startswith("initialization.userAccount.keys") for k in step.get("detailedDiff") or {}
        ):
            reasons.append("ssh keys (the provider replaces the container on a key change)")
        change.reasons = sorted(set(change.reasons) | set(reasons))
        old_state = step.get("oldState") or {}
        if op == "delete" and is_protected(old_state):
            change.protected = True
        if op == "delete" and (step.get("oldState") or {}).get("retainOnDelete"):
            change.op = "forget"  # removed from the stack, kept on Proxmox (retain_on_delete)
        old, new = _template(step.get("oldState")), _template(step.get("newState"))
        if typ == CONTAINER and old and new and old != new:
            after = _version(new) if new != UNKNOWN else (pending.get(name) or "a new template")
            change.image_change = (_version(old), after)
    _name_moves(merged, steps, preview.get(LOST_KEY) or [])
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
    errors = preview_errors(preview)
    if shape is None:
        return Summary(changes, warnings, errors=errors)
    # With the stack's shape the gate judges groups by their rollout order, not by "all replaced":
    # a group the resource graph rolls member by member never goes down at once.
    return Summary(changes, [], findings(preview, shape), rollout_order(steps, shape), errors)


def _node(state: dict[str, Any] | None) -> str | None:
    inputs = (state or {}).get("inputs") or {}
    value = inputs.get("nodeName")
    if value is None and isinstance(inputs.get("stdin"), str) and inputs["stdin"].startswith("{"):
        value = json.loads(inputs["stdin"]).get("node")  # a data volume's request names its node
    return value if isinstance(value, str) and value != UNKNOWN else None


LOST_KEY = "fabricLostContainers"
"""The preview document's list of containers lost with their node (urn, name, vmid, node, movedTo)."""


def _name_moves(merged: dict[str, Change], steps: list[dict[str, Any]], lost: list[dict[str, Any]]) -> None:
    """Mark each container the plan re-creates on another node, and say what its data volumes do.

    A data volume lives on its node's storage (``DataVolume``'s node is a trigger): a container that
    moves gets a new, empty volume on its new node unless the volume is restored there first.
    A container lost with its node is a create in the plan (the runner forgets it first,
    ``ops.stack.lost_nodes``); the runner lists those under ``LOST_KEY`` in the preview document.
    """
    volumes: dict[str, list[str]] = defaultdict(list)
    for step in steps:
        if DATA_VOLUME not in step["urn"] or not step["urn"].split("::")[-2].endswith(COMMAND):
            continue
        name = step["urn"].rsplit("::", 1)[-1]
        old, new = _node(step.get("oldState")), _node(step.get("newState"))
        request = json.loads(
            ((step.get("newState") or step.get("oldState") or {}).get("inputs") or {}).get("stdin") or "{}"
        )
        owner = str(request.get("container", name))
        if step.get("op") in ("replace", "create-replacement") and old and new and old != new:
            volumes[owner].append(f"{name} is a NEW EMPTY volume on {new} (the old one stays on {old})")
        elif step.get("op") == "create" and owner in {str(e.get("name")) for e in lost}:
            volumes[owner].append(f"{name} is a NEW EMPTY volume on {new} (the old one was lost with its node)")
        elif step.get("op") in ("same", "update", None):
            volumes[owner].append(f"{name} stays on {old or new}")
    for step in steps:
        urn = step["urn"]
        if urn.split("::")[-2].rsplit("$", 1)[-1] != CONTAINER or step.get("op") not in (
            "replace",
            "create-replacement",
        ):
            continue
        old, new = _node(step.get("oldState")), _node(step.get("newState"))
        change = merged.get(urn)
        if change is not None and old and new and old != new:
            change.move = (old, new)
            change.data = "; ".join(volumes.get(change.name, [])) or "no data volume"
    for entry in lost:
        urn, old, new = str(entry.get("urn")), str(entry.get("node")), entry.get("movedTo")
        change = merged.get(urn)
        if change is not None and change.op == "create" and new:
            change.move = (f"{old} (lost)", str(new))
            change.data = "; ".join(volumes.get(change.name, [])) or "no data volume"


def preview_errors(preview: dict[str, Any]) -> list[str]:
    """The preview's error diagnostics, one line each (the engine's text, shortened)."""
    out = []
    for diag in preview.get("diagnostics") or []:
        if isinstance(diag, dict) and diag.get("severity") == "error":
            text = " ".join(str(diag.get("message", "")).split()) or "error without a message"
            where = str(diag.get("urn", "")).rsplit("::", 1)[-1]
            line = f"{where}: {text}" if where else text
            out.append(line if len(line) <= 300 else line[:297] + "...")
    return out


def load_preview(path: Path) -> dict[str, Any]:
    """Read ``pulumi preview --json`` output; ``InputError`` (file and field) when it is not one."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: preview file not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: preview file cannot be read: {getattr(err, 'strerror', None) or err}") from None
    if not text.strip():
        raise InputError(f"{path}: preview file is empty (did 'pulumi preview --json' run?)")
    try:
        preview = json.loads(text)
    except ValueError as err:
        where = f"line {err.lineno} column {err.colno}" if isinstance(err, json.JSONDecodeError) else "?"
        raise InputError(f"{path}: not JSON at {where} (a truncated preview?)") from None
    if not isinstance(preview, dict):
        raise InputError(f"{path}: not a 'pulumi preview --json' document (a {type(preview).__name__})")
    if not any(key in preview for key in ("steps", "changeSummary", "diagnostics")):
        raise InputError(f"{path}: not a 'pulumi preview --json' document (no steps, changeSummary or diagnostics)")
    for key in ("steps", "diagnostics"):
        if key in preview and not isinstance(preview[key], list):
            raise InputError(f"{path}: {key}: must be a list")
    for i, step in enumerate(preview.get("steps") or []):
        if not isinstance(step, dict) or not isinstance(step.get("urn"), str) or "::" not in step["urn"]:
            raise InputError(f"{path}: steps.{i}.urn: missing or not a Pulumi URN")
        if not isinstance(step.get("op", "same"), str):
            raise InputError(f"{path}: steps.{i}.op: must be a string")
        for key in ("oldState", "newState"):
            if not isinstance(step.get(key) or {}, dict) or not isinstance(
                (step.get(key) or {}).get("inputs") or {}, dict
            ):
                raise InputError(f"{path}: steps.{i}.{key}: must be an object with 'inputs'")
        for key in ("replaceReasons", "diffReasons"):
            if not isinstance(step.get(key) or [], list):
                raise InputError(f"{path}: steps.{i}.{key}: must be a list")
    return preview


def check_stack_file(path: Path, project_dir: Path = PROJECT_ROOT) -> None:
    """The stack file must be valid before its shape is read; ``InputError`` naming it otherwise."""
    raw, secret_keys = read_stack_file(path)
    try:
        validate(raw, project_dir=project_dir, secret_keys=secret_keys, stack=stack_name(path))
    except FabricConfigError as err:
        first = err.problems[0] if err.problems else None
        more = f" and {len(err.problems) - 1} more" if len(err.problems) > 1 else ""
        raise InputError(
            f"{path}: invalid stack file ({first}{more}); run 'python -m ops.stack.validate {path}'"
        ) from None


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
    parser.add_argument(
        "--project-dir",
        type=Path,
        default=PROJECT_ROOT,
        help="the checkout the stack file's paths (catalog, playbooks) are relative to; default: this one",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when the plan breaks a blast-radius rule")
    parser.add_argument("--labels", default="", help=f"the PR's labels, comma-separated; '{OVERRIDE_LABEL}' passes")
    args = parser.parse_args(argv)
    try:
        check_stack_file(args.stack_file, args.project_dir)
        preview = load_preview(args.preview)
        shape = shape_of(args.stack_file)
        summary = summarize(preview, groups_of(args.stack_file), shape)
    except InputError as err:
        print(f"plan-summary: error: {err}", file=sys.stderr)
        return EXIT_UNUSABLE
    sys.stdout.write(summary.markdown())
    if summary.errors:
        print(
            f"plan-summary: error: {args.preview}: the preview failed ({len(summary.errors)} error(s))", file=sys.stderr
        )
        return EXIT_UNUSABLE
    overridden = OVERRIDE_LABEL in {label.strip() for label in args.labels.split(",")}
    if summary.findings and overridden:
        sys.stdout.write(f"\nBlast-radius findings overridden by the PR label '{OVERRIDE_LABEL}'.\n")
    blocked = args.strict and (summary.findings or summary.warnings) and not overridden
    return EXIT_FINDINGS if blocked else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
