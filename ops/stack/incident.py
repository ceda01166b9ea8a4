"""The body of a stack's drift issue: what drifted, how to repair it from Git, secrets masked.

    python -m ops.stack.incident --stack prod --infra 1 --config 0 infra.txt config.txt

``scripts/ci/drift-issue.sh`` opens, updates or closes the issue with it (gh CLI).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ops.stack.pr_comment import mask

VERDICT = {0: "clean", 1: "drift", 2: "could not be checked"}


def render(stack: str, infra: int, config: int, infra_log: str, config_log: str) -> str:
    drifted = [line for line in (infra_log + "\n" + config_log).splitlines() if line.startswith(("DRIFT:", "ERROR:"))]
    lines = [
        f"Drift is an incident: reality no longer matches Git for stack `{stack}`.",
        "",
        f"- infrastructure: **{VERDICT.get(infra, f'failed (exit {infra})')}**",
        f"- configuration: **{VERDICT.get(config, f'failed (exit {config})')}**",
        "",
        "#### Findings",
        "",
        *(f"- `{line}`" for line in drifted or ["(no finding lines; see the logs below)"]),
        "",
        "#### Resolve from Git (docs/runbooks.md)",
        "",
        "1. Find who changed what, and remove the manual change (or record it in Git through a PR).",
        f"2. Re-apply from Git: `make up STACK={stack}` from main CI, or for configuration drift only "
        f"`make repair STACK={stack}`, which re-runs exactly the drifted policies.",
        "3. This issue closes itself when the next scheduled check is clean.",
        "",
        "<details><summary>Logs</summary>",
        "",
        "```",
        (infra_log.strip() + "\n" + config_log.strip())[-6000:],
        "```",
        "</details>",
    ]
    return mask("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--stack", required=True)
    parser.add_argument("--infra", type=int, required=True, help="exit code of the infrastructure check")
    parser.add_argument("--config", type=int, required=True, help="exit code of the configuration check")
    parser.add_argument("infra_log", type=Path)
    parser.add_argument("config_log", type=Path)
    args = parser.parse_args(argv)
    body = render(args.stack, args.infra, args.config, args.infra_log.read_text(), args.config_log.read_text())
    sys.stdout.write(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
