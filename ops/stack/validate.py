"""Validate stack files without the engine: the PR check that runs before any preview.

    python -m ops.stack.validate Pulumi.prod.yaml [Pulumi.local.yaml ...]

Prints every problem with its field path; exits 1 if any stack is invalid.
"""

from __future__ import annotations

import sys
from pathlib import Path

from fabric.errors import FabricConfigError
from fabric.paths import PROJECT_ROOT
from fabric.stack_file import read_stack_file
from fabric.validation import validate

ROOT = PROJECT_ROOT


def check(path: Path) -> bool:
    raw, secret_keys = read_stack_file(path)
    try:
        fabric = validate(raw, project_dir=ROOT, secret_keys=secret_keys)
    except FabricConfigError as err:
        print(f"{path.name}: {err}")
        return False
    print(f"{path.name}: valid ({len(fabric.intent.containers)} containers, {len(fabric.images)} image aliases)")
    return True


def main(argv: list[str] | None = None) -> int:
    paths = [Path(p) for p in (argv if argv is not None else sys.argv[1:])]
    if not paths:
        print("usage: python -m ops.stack.validate Pulumi.<stack>.yaml ...", file=sys.stderr)
        return 2
    results = [check(p) for p in paths]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
