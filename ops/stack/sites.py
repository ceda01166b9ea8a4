"""A stack per site: which stacks a change affects, and applying them one at a time.

    python -m ops.stack.sites affected --base origin/main   # JSON list of the deployable stacks a change touches
    python -m ops.stack.sites apply --stacks east west       # apply-plan each in turn, then one report

A *deployable* stack is every ``Pulumi.<stack>.yaml`` of the project except the local ones
(``local``, ``local-*``, ``e2e*``: the embedded fabric's, which the stand-in providers run). A stack
*owns* its stack file and the intent files it names; everything else the program reads (the code,
the catalog, the playbooks, the shared file) is shared. A change affects a stack when it touches
a file the stack owns, and every deployable stack when it touches anything shared; a change to
docs only (``*.md``, ``docs/``) affects none.

The CI workflows preview every affected stack (one PR comment each) and apply them one at a time,
each in its own concurrency group (.github/workflows/; docs/sites.md). ``apply`` is the same for
a CI without matrices: each stack is applied whatever happened to the ones before it, and the
report names every stack's outcome; it exits non-zero when any failed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from fabric import intent_files
from fabric.errors import EXIT_FINDINGS, EXIT_OK, EXIT_UNUSABLE, InputError
from fabric.paths import PROJECT_ROOT
from fabric.sites import stack_of
from fabric.stack_file import read_stack_file

LOCAL_PREFIXES = ("local", "e2e")


def is_local(stack: str) -> bool:
    """The embedded fabric's stacks, which no CI applies."""
    return any(stack == p or stack.startswith(f"{p}-") or (p == "e2e" and stack.startswith(p)) for p in LOCAL_PREFIXES)


def deployable(project_dir: Path = PROJECT_ROOT) -> list[str]:
    """Every stack a CI previews and applies, sorted."""
    names = (stack_of(p) for p in project_dir.glob("Pulumi.*.yaml"))
    return sorted(n for n in names if n is not None and not is_local(n))


def owned_files(project_dir: Path, stack: str) -> set[str]:
    """The files only ``stack`` reads: its stack file and the intent files it names."""
    raw, _ = read_stack_file(project_dir / f"Pulumi.{stack}.yaml")
    files = raw.get(intent_files.KEY) or []
    return {f"Pulumi.{stack}.yaml", *(str(f) for f in files if isinstance(f, str))}


def _is_doc(path: str) -> bool:
    return path.endswith(".md") or path.startswith("docs/")


def affected(changed: Iterable[str], project_dir: Path = PROJECT_ROOT) -> list[str]:
    """The deployable stacks that ``changed`` (repository paths) touch."""
    stacks = deployable(project_dir)
    owners: dict[str, set[str]] = {}
    for stack in stacks:
        for path in owned_files(project_dir, stack):
            owners.setdefault(path, set()).add(stack)
    local_files = {p.name for p in project_dir.glob("Pulumi.*.yaml") if is_local(stack_of(p) or "")}
    hit: set[str] = set()
    for path in changed:
        if _is_doc(path) or path in local_files:
            continue  # documentation, or a local stack's own file: no deployable stack reads it
        if path in owners:
            hit |= owners[path]
        else:
            return stacks  # shared code, catalog, playbooks or shared file: every stack
    return sorted(hit)


def changed_since(base: str, project_dir: Path = PROJECT_ROOT) -> list[str] | None:
    """Paths changed between ``base`` and HEAD (from their merge base, as a PR sees it); None when
    ``base`` is unknown here (a first push, a force push): then nothing can be ruled out."""
    out = subprocess.run(
        ["git", "diff", "--name-only", f"{base}...HEAD"],
        cwd=project_dir,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        print(f"sites: --base {base}: {out.stderr.strip()}; taking every stack as affected", file=sys.stderr)
        return None
    return [line for line in out.stdout.splitlines() if line]


@dataclass(frozen=True)
class Outcome:
    stack: str
    code: int

    @property
    def ok(self) -> bool:
        return self.code == 0


def apply_each(stacks: list[str], apply_one: Callable[[str], int]) -> list[Outcome]:
    """Apply every stack in turn; a failure (a non-zero code or an exception) is recorded and the
    next stack is applied all the same."""
    outcomes = []
    for stack in stacks:
        try:
            code = apply_one(stack)
        except Exception as err:
            print(f"sites: {stack}: {type(err).__name__}: {err}", file=sys.stderr)
            code = EXIT_UNUSABLE
        outcomes.append(Outcome(stack, code))
    return outcomes


def report(outcomes: list[Outcome]) -> str:
    """One line per stack, failures first counted."""
    failed = [o for o in outcomes if not o.ok]
    head = f"{len(outcomes) - len(failed)} of {len(outcomes)} stack(s) applied"
    head += f"; FAILED: {', '.join(o.stack for o in failed)}" if failed else ""
    lines = [head, *(f"  {o.stack}: {'applied' if o.ok else f'FAILED (exit {o.code})'}" for o in outcomes)]
    return "\n".join(lines)


def _apply_plan(stack: str) -> int:
    cmd = [sys.executable, "-m", "ops.stack", "apply-plan", "--stack", stack, "--plan", f"plans/{stack}"]
    return subprocess.run(cmd, cwd=PROJECT_ROOT, stdin=subprocess.DEVNULL, check=False).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="action", required=True)
    aff = sub.add_parser("affected", help="JSON list of the deployable stacks a change touches")
    aff.add_argument("--base", required=True, help="the ref the change is compared with (e.g. origin/main)")
    app = sub.add_parser("apply", help="apply-plan each stack in turn and report every outcome")
    app.add_argument("--stacks", nargs="+", required=True)
    args = parser.parse_args(argv)
    try:
        if args.action == "affected":
            changed = changed_since(args.base)
            print(json.dumps(deployable() if changed is None else affected(changed)))
            return EXIT_OK
        outcomes = apply_each(args.stacks, _apply_plan)
    except InputError as err:
        print(f"sites: error: {err}", file=sys.stderr)
        return EXIT_UNUSABLE
    print(report(outcomes))
    return EXIT_OK if all(o.ok for o in outcomes) else EXIT_FINDINGS


if __name__ == "__main__":
    sys.exit(main())
