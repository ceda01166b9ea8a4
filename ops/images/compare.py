"""Compare two builds of one template bit for bit, and name what differs when they are not identical.

    python -m ops.images.compare A.tar.zst B.tar.zst
    make image-compare A=... B=...

The reproducibility check CI runs on an image change (docs/pipeline.md, "Images through the
pipeline"): the same commit built twice must give the same bytes. Identical sha256: exit 0. Not
identical: exit 1, with every differing tar entry and field (``ops.images.artifact.diff_artifacts``),
or, when the trees are equal, that only the compression or the tar framing differs. Exit 2 when a
file is missing or not a readable template.
"""

from __future__ import annotations

import argparse
import sys
import tarfile
from pathlib import Path

from fabric.errors import EXIT_FINDINGS, EXIT_OK, EXIT_UNUSABLE
from ops.images.artifact import diff_artifacts, sha256_file


def compare(a: Path, b: Path) -> tuple[bool, list[str]]:
    """(identical, what differs). Raises ``OSError`` or ``tarfile.TarError`` for an unreadable input."""
    if sha256_file(a) == sha256_file(b):
        return True, []
    diffs = diff_artifacts(a, b)
    if not diffs:
        diffs = ["every entry is equal: only the compression or the tar framing (headers, padding) differs"]
    return False, diffs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ops.images.compare", description=__doc__.split("\n\n")[0])
    ap.add_argument("a", type=Path, help="the first build's tar.zst")
    ap.add_argument("b", type=Path, help="the second build's tar.zst")
    args = ap.parse_args(argv)
    for path in (args.a, args.b):
        if not path.is_file():
            print(f"image-compare: {path}: no such file", file=sys.stderr)
            return EXIT_UNUSABLE
    try:
        identical, diffs = compare(args.a, args.b)
    except (OSError, tarfile.TarError, ValueError) as exc:
        print(f"image-compare: cannot read a template: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    if identical:
        print(f"image-compare: bit-identical (sha256 {sha256_file(args.a)})")
        return EXIT_OK
    print(f"image-compare: NOT identical: {args.a} and {args.b} differ in {len(diffs)} place(s):")
    for line in diffs:
        print(f"  {line}")
    return EXIT_FINDINGS


if __name__ == "__main__":
    sys.exit(main())
