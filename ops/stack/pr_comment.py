"""Render a saved plan as the pull request's plan comment (Markdown, with a Mermaid rollout diagram).

    python -m ops.stack.pr_comment --stack prod --stack-file Pulumi.prod.yaml plans/prod > comment.md

Reads ``preview.json`` and ``meta.json`` from the directory ``make plan`` wrote. The comment says
which tree was reviewed, lists every replace and delete with its reason (the plan summary's table),
the order the engine's plan runs them in, the blast-radius findings, any error or policy violation
of the preview, and draws what is replaced, in which order, per replica group. Every value that
looks like a credential, or equals one in this process's environment, is masked: the comment is
public to everyone who can read the PR. ``scripts/ci/pr-comment.sh`` posts it with the gh CLI.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fabric.tokens import CONTAINER
from ops.stack.blast_radius import StackShape, shape_of
from ops.stack.plan_summary import COMMENT_LIMIT, Summary, groups_of, summarize

MASK = "***"
DIAGRAM_MAX = 40
"""Above this many replaced or deleted containers the Mermaid diagram is replaced by counts per group
(GitHub stops rendering large diagrams, and a reviewer cannot read one)."""
_SECRET_ENV = re.compile(r"(TOKEN|PASSWORD|PASSPHRASE|SECRET|PRIVATE_KEY|DEPLOY_KEY)$")
_SECRET_SHAPES = [
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
    re.compile(r"PVEAPIToken=\S+"),
    re.compile(r"[\w.-]+@[\w.-]+![\w.-]+[=:][0-9a-fA-F-]{36}"),  # user@realm!tokenid=uuid
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
]


def marker(stack: str) -> str:
    """The hidden first line the CI script finds the PR's comment by."""
    return f"<!-- samakia-fabric plan: {stack} -->"


def mask(text: str, environ: Mapping[str, str] = os.environ) -> str:
    """``text`` with credential-shaped strings and this environment's secret values replaced."""
    values = sorted({v for k, v in environ.items() if _SECRET_ENV.search(k) and len(v) >= 6}, key=len, reverse=True)
    for value in values:
        text = text.replace(value, MASK)
    for shape in _SECRET_SHAPES:
        text = shape.sub(MASK, text)
    return text


def _node_id(name: str) -> str:
    return "n_" + re.sub(r"\W", "_", name)


def mermaid(summary: Summary, shape: StackShape) -> list[str]:
    """A flowchart: one box per replica group, its replaced or deleted members in rollout order.

    An arrow means "starts after the previous one is back and healthy" (the plan's own graph, as
    the rollout column says); members with no arrow between them go down together.
    """
    touched = {c.name: c for c in summary.changes if c.type == CONTAINER and c.op in ("replace", "delete")}
    if not touched:
        return []
    if len(touched) > DIAGRAM_MAX:
        per_group: dict[str, int] = {}
        for name in touched:
            group = shape.group_of(name) or "ungrouped"
            per_group[group] = per_group.get(group, 0) + 1
        counted = ", ".join(f"{g} {n}" for g, n in sorted(per_group.items()))
        return [
            f"{len(touched)} containers replaced or deleted ({counted}): too many for a diagram; "
            "the rollout column of the table orders them."
        ]
    lines = ["```mermaid", "flowchart LR"]
    groups = {g: [m for m in members if m in touched] for g, members in shape.groups.items()}
    groups["ungrouped"] = [n for n in touched if shape.group_of(n) is None]
    for group, members in sorted(groups.items()):
        if not members:
            continue
        lines.append(f'  subgraph {_node_id("g_" + group)}["{group}"]')
        for name in members:
            c = touched[name]
            what = f"{c.image_change[0]} → {c.image_change[1]}" if c.image_change else c.why
            lines.append(f'    {_node_id(name)}["{name}<br/>{c.op}: {what}"]')
            previous = shape.waits_for(name)
            if (
                previous in touched
                and " after " in summary.rollout.get(name, "")
                and "NOT after" not in (summary.rollout.get(name, ""))
            ):
                lines.append(f"    {_node_id(previous)} --> {_node_id(name)}")
        lines.append("  end")
    lines.append("```")
    return lines


def _problems(preview: Mapping[str, Any]) -> list[str]:
    """Errors and policy violations the preview reported (it then saved no plan)."""
    out = []
    for diag in preview.get("diagnostics") or []:
        if diag.get("severity") in ("error", "warning") and diag.get("message"):
            where = str(diag.get("urn") or "").rsplit("::", 1)[-1]
            text = " ".join(str(diag["message"]).split())
            out.append(f"- **{diag['severity']}**{f' ({where})' if where else ''}: {text}")
    return out


def _policy_findings(plan: Path) -> list[str]:
    """The policy pack's findings saved by ``make plan`` (policy.json)."""
    path = plan / "policy.json"
    try:
        events = json.loads(path.read_text()) if path.is_file() else []
    except ValueError:
        events = []
    return [
        f"- **policy `{e.get('policyName', '?')}`** ({e.get('enforcementLevel', '?')}): "
        + " ".join(str(e.get("message", "")).split())
        for e in events
        if isinstance(e, dict)
    ]


def render(stack: str, plan: Path, stack_file: Path, environ: Mapping[str, str] = os.environ) -> str:
    """The whole comment, masked."""
    meta: dict[str, Any] = {}
    if (plan / "meta.json").is_file():
        meta = json.loads((plan / "meta.json").read_text())
    raw = (plan / "preview.json").read_text() if (plan / "preview.json").is_file() else ""
    try:
        preview = json.loads(raw) if raw.strip() else {}
    except ValueError:
        preview = {}
    lines = [marker(stack), f"### Plan for stack `{stack}`", ""]
    if meta.get("tree"):
        lines.append(
            f"Reviewed tree `{meta['tree'][:12]}` (commit `{meta.get('commit', '?')[:12]}`). Main applies exactly "
            "this plan to the same tree, and refuses if Proxmox or the code moved since."
        )
    else:
        lines.append("**No plan was saved: this change cannot be applied until its preview succeeds.**")
    problems = _policy_findings(plan) + _problems(preview)
    if not preview.get("steps") and not problems:
        problems = ["- **error**: the preview produced no steps (it failed before planning; see the job log)"]
    if problems:
        lines += ["", "#### Preview problems", "", *problems]
    shape = shape_of(stack_file)
    summary = summarize(preview, groups_of(stack_file), shape)
    counts = {op: sum(1 for c in summary.changes if c.op == op) for op in ("create", "update", "replace", "delete")}
    lines += ["", ", ".join(f"**{n}** to {op}" for op, n in counts.items()) + ".", ""]
    significant = [c for c in summary.changes if c.op != "same"]
    tail: list[str] = []
    if summary.findings or summary.warnings:
        tail += ["", "#### Blast radius", "", *[f"- **BLOCKED** {f.brief()}" for f in summary.findings]]
        tail += [f"- WARNING: {w}" for w in summary.warnings]
    diagram = mermaid(summary, shape)
    if diagram:
        tail += ["", "#### Rollout", "", *diagram]
    if significant:
        # The table gets what the rest leaves of GitHub's limit, with room for masking and markers.
        budget = COMMENT_LIMIT - 2000 - sum(len(x) + 1 for x in lines + tail)
        lines += summary.collapsed(significant, budget)
    else:
        lines.append("No changes.")
    return mask("\n".join(lines + tail).rstrip() + "\n", environ)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("plan", type=Path, help="the directory `make plan` wrote (plans/STACK)")
    parser.add_argument("--stack", required=True)
    parser.add_argument("--stack-file", type=Path, required=True)
    args = parser.parse_args(argv)
    sys.stdout.write(render(args.stack, args.plan, args.stack_file))
    return 0


if __name__ == "__main__":
    sys.exit(main())
