"""Validate stack files without the engine: the PR check that runs before any preview.

    python -m ops.stack.validate Pulumi.prod.yaml [Pulumi.local.yaml ...]

Prints every problem with its field path (values of credential-like fields are never shown).
Exit status: 0 every stack is valid; 1 a stack is invalid (its problems are listed);
2 a file is unusable (missing, not YAML, a duplicate key, not a stack file) or no file was given.
"""

from __future__ import annotations

import sys
from pathlib import Path

from fabric.errors import EXIT_FINDINGS, EXIT_OK, EXIT_UNUSABLE, FabricConfigError, InputError
from fabric.paths import PROJECT_ROOT
from fabric.stack_file import read_stack_file
from fabric.validation import validate

ROOT = PROJECT_ROOT


def stack_name(path: Path) -> str | None:
    """``prod`` for ``Pulumi.prod.yaml``: protection is keyed on the stack's name."""
    parts = path.name.split(".")
    return ".".join(parts[1:-1]) if len(parts) >= 3 and parts[0] == "Pulumi" else None


def check(path: Path) -> int:
    """Validate one stack file; print the verdict; return its exit status."""
    try:
        raw, secret_keys = read_stack_file(path)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_UNUSABLE
    try:
        fabric = validate(raw, project_dir=ROOT, secret_keys=secret_keys, stack=stack_name(path))
    except FabricConfigError as err:
        print(f"{path}: {err}")
        return EXIT_FINDINGS
    print(f"{path.name}: valid ({len(fabric.intent.containers)} containers, {len(fabric.images)} image aliases)")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    paths = [Path(p) for p in (argv if argv is not None else sys.argv[1:])]
    if not paths:
        print("usage: python -m ops.stack.validate Pulumi.<stack>.yaml ...", file=sys.stderr)
        return EXIT_UNUSABLE
    return max(check(p) for p in paths)


if __name__ == "__main__":
    sys.exit(main())
