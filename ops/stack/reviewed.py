"""The reviewed plan is the applied plan: save a refreshed preview's plan, apply only that plan.

    python -m ops.stack plan --stack prod [--out plans]              # the PR job (make plan)
    python -m ops.stack apply-plan --stack prod --plan plans/prod    # the main job (make apply-plan)

``plan`` runs ``pulumi preview --refresh --save-plan`` (Pulumi's update plans) through the policy
pack and writes, into ``<out>/<stack>/``: ``plan.json`` (the engine's plan; secrets in it stay
encrypted with the stack's secrets provider), ``preview.json`` (the structured preview the plan
summary and the PR comment are rendered from), ``policy.json`` (the policy pack's findings) and
``meta.json``, which keys the plan by the Git tree it was made for.

Keyed by the tree, not the commit: the PR job plans the merge result GitHub checks out, and the
commit main then builds is a different object with the same tree when the branch was up to date
(branch protection requires it; see docs/pipeline.md). Any change to any tracked file changes the
tree, so "same tree" means "same code".

``apply-plan`` refuses, before touching anything, when the plan is missing, was made for another
stack, or for another tree, or when the checkout has uncommitted changes. It then runs
``pulumi up --refresh --plan``: the engine refreshes from PVE and checks every step against the plan
in the preview phase, so a change in PVE or in the code since review refuses too, and nothing is
applied (the engine's own plan check, pkg/v3 backend/apply.go and resource/deploy/step_generator.go).
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, datetime
from pathlib import Path

from ops.stack.failure_summary import RunFailed, logged_run
from ops.stack.workspace import Workspace

PLAN_FORMAT = 1
EXIT_REFUSED = 3
"""``apply-plan`` refused before anything was applied (missing plan, wrong key, dirty tree, plan check)."""
#: How the engine words a step its plan does not allow (pulumi/pulumi pkg/v3 v3.274.1
#: resource/deploy/step_generator.go, validateSteps: "<op> is not allowed by the plan: ...", raised
#: before the step runs; step_executor.go and GenerateSteps: "resource ... violates plan: ...").
PLAN_VIOLATIONS = ("violates plan", "is not allowed by the plan")


class PlanRefused(RuntimeError):
    """The saved plan cannot be applied here; the message says why and what to do."""


@dataclass(frozen=True)
class PlanKey:
    """What a plan was made for."""

    stack: str
    tree: str
    commit: str
    format: int = PLAN_FORMAT


def write_key(meta_file: Path, key: PlanKey) -> None:
    """The plan's key, plus when it was made (for people; the check ignores it)."""
    meta_file.write_text(
        json.dumps(asdict(key) | {"created": datetime.now(UTC).isoformat(timespec="seconds")}, indent=2) + "\n"
    )


def read_key(meta_file: Path) -> PlanKey | None:
    """The key ``write_key`` wrote, or None when the file is not one."""
    try:
        meta = json.loads(meta_file.read_text())
        known = {f.name for f in fields(PlanKey)}
        return PlanKey(**{k: v for k, v in meta.items() if k in known}) if isinstance(meta, dict) else None
    except (ValueError, TypeError):
        return None


def _git(project_dir: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=project_dir, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise PlanRefused(f"plans are keyed by the Git tree, and git {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout.rstrip("\n")


def checkout_key(project_dir: Path, stack: str) -> PlanKey:
    """The key of the code in ``project_dir``; refuses a checkout with uncommitted changes to tracked files."""
    dirty = _git(project_dir, "status", "--porcelain", "--untracked-files=no")
    if dirty:
        files = ", ".join(line[3:] for line in dirty.splitlines()[:5])  # porcelain: "XY path"
        raise PlanRefused(f"uncommitted changes ({files}): a plan is made for, and applied to, committed code only")
    return PlanKey(stack, _git(project_dir, "rev-parse", "HEAD^{tree}"), _git(project_dir, "rev-parse", "HEAD"))


def policy_args(ws: Workspace) -> tuple[str, ...]:
    """Every preview runs the project's CrossGuard policy pack (policy/), when the project has one."""
    pack = ws.project_dir / "policy"
    return ("--policy-pack", str(pack)) if (pack / "PulumiPolicy.yaml").is_file() else ()


def policy_events(event_log: Path) -> list[dict[str, str]]:
    """The policy pack's findings, from the engine's event log.

    ``pulumi preview --json`` leaves policy events out of its output (pkg/v3 backend/display/json.go,
    ShowPreviewDigest: "we don't handle policy events in JSON serialization"), so they are read from
    ``--event-log`` (one JSON engine event per line, ``policyEvent`` as apitype.PolicyEvent).
    """
    found = []
    lines = event_log.read_text().splitlines() if event_log.is_file() else []
    for line in lines:
        try:
            event = json.loads(line).get("policyEvent")
        except ValueError:
            continue
        if isinstance(event, dict) and event.get("policyName"):
            keys = ("policyName", "policyPackName", "enforcementLevel", "message", "resourceUrn")
            found.append({k: str(event.get(k) or "") for k in keys})
    return found


def plan_dir(out: Path, stack: str) -> Path:
    return out / stack


def save_plan(ws: Workspace, out: Path, extra_args: tuple[str, ...] = ()) -> int:
    """The PR job: a refreshed preview whose plan is saved with its key. Returns the preview's exit code."""
    key = checkout_key(ws.project_dir, ws.stack)
    target = plan_dir(out, ws.stack).resolve()  # pulumi runs in the project dir, this process may not
    target.mkdir(parents=True, exist_ok=True)
    for stale in ("plan.json", "preview.json", "meta.json", "policy.json"):
        (target / stale).unlink(missing_ok=True)
    events = target / "events.jsonl"
    # This CLI registers preview's --event-log only with PULUMI_DEBUG_COMMANDS set (pulumi/pulumi
    # pkg/v3 v3.274.1 cmd/pulumi/operations/preview.go, NewPreviewCmd); it is where the policy pack's
    # findings arrive as structured events.
    ws = replace(ws, env={**ws.env, "PULUMI_DEBUG_COMMANDS": "true"})
    result = ws.pulumi(
        "preview", "--refresh", "--json", "--save-plan", str(target / "plan.json"), "--event-log", str(events),
        *policy_args(ws), *extra_args, check=False, capture=True,
    )  # fmt: skip
    (target / "preview.json").write_text(result.stdout)
    violations = policy_events(events)
    events.unlink(missing_ok=True)  # the raw event stream is not an artifact
    (target / "policy.json").write_text(json.dumps(violations, indent=2) + "\n")
    for v in violations:
        print(f"POLICY {v['enforcementLevel']}: {v['policyName']}: {v['message']}")
    if result.returncode != 0:
        print(result.stderr[-4000:])
        (target / "plan.json").unlink(missing_ok=True)  # a failed preview's plan is never applied
        return result.returncode
    write_key(target / "meta.json", key)
    print(f"plan for stack {ws.stack} saved in {target} (tree {key.tree[:12]}, commit {key.commit[:12]})")
    return 0


def check_plan(project_dir: Path, stack: str, plan: Path) -> Path:
    """Everything that can refuse before the engine runs; returns the plan file."""
    plan_file, meta_file = plan / "plan.json", plan / "meta.json"
    if not plan_file.is_file() or not meta_file.is_file():
        raise PlanRefused(
            f"no reviewed plan in {plan} (plan.json and meta.json): the PR check saves one with "
            f"`make plan STACK={stack}`; re-run it for this commit"
        )
    saved = read_key(meta_file)
    if saved is None or saved.format != PLAN_FORMAT:
        raise PlanRefused(f"{meta_file} is not a plan key written by `make plan` (format {PLAN_FORMAT})")
    if saved.stack != stack:
        raise PlanRefused(f"{plan} was made for stack {saved.stack!r}, not {stack!r}")
    here = checkout_key(project_dir, stack)
    if saved.tree != here.tree:
        raise PlanRefused(
            f"{plan} was reviewed for tree {saved.tree[:12]} (commit {saved.commit[:12]}), but this checkout is "
            f"tree {here.tree[:12]} (commit {here.commit[:12]}): the code moved since review. "
            f"Bring the PR up to date with main and let its check plan again"
        )
    return plan_file


def apply_plan(ws: Workspace, plan: Path, extra_args: tuple[str, ...] = ()) -> int:
    """The main job: apply exactly the reviewed plan, from refreshed state, or refuse."""
    try:
        plan_file = check_plan(ws.project_dir, ws.stack, plan)
    except PlanRefused as err:
        print(f"apply-plan refused: {err}")
        return EXIT_REFUSED
    try:
        result = logged_run(
            ws, "apply-plan", "up", "--yes", "--refresh", "--plan", str(plan_file.resolve()), *policy_args(ws),
            *extra_args, capture=True,
        )  # fmt: skip
    except RunFailed as failed:
        print(failed.output[-8000:])
        if not any(sign in failed.output for sign in PLAN_VIOLATIONS):
            print(failed.summary)
            return failed.code
        moved = [f for f in failed.found if any(sign in f.message for sign in PLAN_VIOLATIONS)] or failed.found
        print(
            "apply-plan refused: reality or code moved since the plan was reviewed (the engine's plan check "
            f"failed; nothing was applied): {len(moved)} resource(s)"
        )
        for failure in moved:
            print(f"  - {failure.line()}")
        if not moved:  # the summary found no resource: the engine's own lines say which
            for line in failed.output.splitlines():
                if any(sign in line for sign in PLAN_VIOLATIONS):
                    print(f"  {line.strip()}")
        print(f"  next: investigate the change, then re-run the PR check (`make plan STACK={ws.stack}`) for a new plan")
        return EXIT_REFUSED
    print(result.stdout[-8000:])
    return 0
