"""Rebuild a catalogued image from the commit its entry names and compare it bit for bit.

    python -m ops.images.reproduce --family debian12-base --version 1.1.0 [--stamp-commit SHA]

Proves an entry's provenance: the named commit holds image code with the entry's template
digest, and building that code (a ``git worktree`` of the commit, built by this checkout's build
command, into a scratch catalog and cache) gives the catalogued sha256. ``--stamp-commit``
reproduces a build made before provenance was recorded, whose stamp names another commit
(``docs/images.md``, "Provenance"); the stamp's time is that commit's time. Heavy (a cold
Packer build, root): run it under the shared lock. Exit 0 when bit-identical, 1 when not or when
the commit does not hold the entry's inputs, 2 when it cannot run.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from fabric.catalog import ImageBuild, load_catalog
from fabric.paths import PROJECT_ROOT
from ops.images.build import BuildError, build_image
from ops.images.compare import compare
from ops.images.inputs import DEFAULT_CATALOG, InputError, commit_time
from ops.images.provenance import template_digest_at, worktree_at


@dataclass(frozen=True)
class Reproduction:
    entry: ImageBuild
    rebuilt: ImageBuild
    stamp_commit: str
    seconds: float

    @property
    def identical(self) -> bool:
        return (self.rebuilt.sha256, self.rebuilt.size) == (self.entry.sha256, self.entry.size)


def reproduce(
    family: str,
    version: str,
    catalog: Path = DEFAULT_CATALOG,
    stamp_commit: str | None = None,
    cache_dir: Path | None = None,
) -> Reproduction:
    """Rebuild ``family`` ``version`` from its entry's commit, into ``cache_dir`` (kept) or a scratch
    directory (removed). Raises ``InputError`` or ``BuildError``."""
    entry = load_catalog(catalog).find(family, version)
    if entry is None:
        raise InputError(f"{family} {version} is not in {catalog}")
    if entry.dev:
        raise InputError(f"{family} {version} is a dev-only entry: it names no commit's inputs")
    digest = template_digest_at(PROJECT_ROOT, entry.git_commit, family)
    if digest != entry.template_digest:
        raise BuildError(
            f"commit {entry.git_commit[:12]} holds images/{family} with digest {digest}, not the entry's "
            f"{entry.template_digest}: the entry does not name the commit its inputs came from"
        )
    stamp = stamp_commit or entry.git_commit
    with (
        tempfile.TemporaryDirectory(prefix="samakia-reproduce-") as tmp,
        worktree_at(PROJECT_ROOT, entry.git_commit, Path(tmp) / "tree") as tree,
    ):
        start = time.monotonic()
        rebuilt = build_image(
            family,
            version,
            Path(tmp) / "catalog.yaml",
            cache_dir=cache_dir or Path(tmp) / "cache",
            images_dir=tree / "images",
            stamp_commit=stamp,
            build_epoch=commit_time(stamp),
            reuse=False,
        )
        seconds = time.monotonic() - start
    if rebuilt.git_commit != entry.git_commit:
        raise BuildError(f"the worktree's image code came from {rebuilt.git_commit}, not {entry.git_commit}")
    return Reproduction(entry, rebuilt, stamp, seconds)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ops.images.reproduce", description=__doc__.split("\n\n")[0])
    ap.add_argument("--family", required=True)
    ap.add_argument("--version", required=True)
    ap.add_argument("--catalog", type=Path, default=DEFAULT_CATALOG)
    ap.add_argument("--stamp-commit", default=None, help="the commit an older build's stamp names")
    ap.add_argument(
        "--twice",
        type=Path,
        metavar="DIR",
        help="CI: build twice, into DIR/1 and DIR/2 (kept for publishing), and compare the two bit for bit",
    )
    args = ap.parse_args(argv)
    try:
        if args.twice:
            return _twice(args.family, args.version, args.catalog, args.twice)
        r = reproduce(args.family, args.version, args.catalog, args.stamp_commit)
    except BuildError as exc:
        print(f"reproduce: {exc}", file=sys.stderr)
        return 1
    except (InputError, subprocess.CalledProcessError) as exc:
        print(f"reproduce: cannot run: {exc}", file=sys.stderr)
        return 2
    verdict = "bit-identical to" if r.identical else "DIFFERENT from"
    print(
        f"reproduce: {args.family} {args.version} rebuilt from {r.entry.git_commit[:12]} (stamp {r.stamp_commit[:12]}) "
        f"in {r.seconds:.0f} s: sha256 {r.rebuilt.sha256}, {verdict} the catalog's {r.entry.sha256}; "
        f"base {'as recorded' if r.rebuilt.sources == r.entry.sources else 'MOVED: ' + ', '.join(r.rebuilt.sources)}"
    )
    return 0 if r.identical else 1


def _twice(family: str, version: str, catalog: Path, out: Path) -> int:
    """Two builds from the entry's commit: identical to each other (else what differs, named) and to the entry."""
    builds = [reproduce(family, version, catalog, cache_dir=out / n) for n in ("1", "2")]
    name = builds[0].entry.file_name
    identical, diffs = compare(out / "1" / name, out / "2" / name)
    for n, r in zip(("1", "2"), builds, strict=True):
        verdict = "matches" if r.identical else "DIFFERS from"
        print(f"reproduce: build {n} of {family} {version}: sha256 {r.rebuilt.sha256}, {verdict} the catalog entry")
    if not identical:
        print(f"reproduce: the two builds are NOT bit-identical ({len(diffs)} difference(s)):")
        print("\n".join(f"  {line}" for line in diffs))
    return 0 if identical and all(r.identical for r in builds) else 1


if __name__ == "__main__":
    raise SystemExit(main())
