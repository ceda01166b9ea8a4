"""Image catalog immutability: existing entries may not change, move or disappear.

    python -m ops.images.catalog_check --catalog images/catalog.yaml [--base REF]

Compares the catalog file in the working tree with the same file on the target branch
(``--base``; default ``$SAMAKIA_CATALOG_BASE``, else ``origin/main`` when it exists, else
``main``). Every entry of the base must still be there, at the same position, equal in every
field; new entries may only be appended, with versions increasing per family and file names
``<family>_<version>_amd64.tar.zst``. No entry may be dev-only (built from uncommitted image
code). Part of lint and of PR validation.

One field may be corrected: ``git_commit``, the provenance, and only to a commit whose
``images/<family>/`` has exactly the entry's ``template_digest`` when the recorded one does not.
Everything else (version, file name, sha256, size, sources, build time, template digest) is the
artifact's identity and never changes.

Exit status: 0 the catalog only appends (or corrects provenance truly); 1 it rewrites the base
(each rule broken is listed); 2 it cannot be checked: the file is missing, not a ``.yaml`` file
under ``images/`` of its repository, malformed (a duplicate key or version, a bad field: one
line naming it), or the base ref is missing.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from fabric.catalog import Catalog, ImageBuild, load_catalog, parse_catalog, version_key
from fabric.errors import EXIT_FINDINGS, EXIT_OK, EXIT_UNUSABLE, InputError
from ops.images.inputs import DEFAULT_CATALOG, file_name
from ops.images.provenance import template_digest_at

PROVENANCE = "git_commit"
"""The one field a correction may change (``correction_error``); all others are identity."""

DigestAt = Callable[[str, str], "str | None"]
"""(family, commit) -> the template digest of ``images/<family>/`` in that commit, or None."""


class CheckError(RuntimeError):
    """The check could not run (no git, no base ref, unreadable catalog)."""


@dataclass
class Result:
    errors: list[str] = field(default_factory=list)
    unchanged: int = 0
    added: list[str] = field(default_factory=list)
    corrected: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def _fields(build: ImageBuild) -> dict[str, object]:
    return build.model_dump(mode="json")


def rule_errors(catalog: Catalog) -> list[str]:
    """Rules every catalog obeys on its own: monotonic versions, canonical file names."""
    errors = []
    for family, builds in catalog.families.items():
        previous: ImageBuild | None = None
        for build in builds:
            want = file_name(family, build.version)
            if build.file_name != want:
                errors.append(f"{family} {build.version}: file_name {build.file_name!r}, expected {want!r}")
            if build.dev:
                errors.append(
                    f"{family} {build.version}: a dev-only entry (built from uncommitted image code, "
                    f"{build.git_commit}); rebuild it from a commit without --dev"
                )
            if previous is not None and version_key(build.version) <= version_key(previous.version):
                errors.append(
                    f"{family} {build.version}: listed after {previous.version}; versions must increase "
                    f"(oldest first, each greater than the one before)"
                )
            previous = build
    return errors


def correction_error(family: str, old: ImageBuild, new: ImageBuild, digest_at: DigestAt | None) -> str | None:
    """Why changing ``old``'s provenance to ``new``'s is refused; None when it is a true correction."""
    if digest_at is None:
        return "its commit changed and no repository is at hand to verify the correction"
    recorded = digest_at(family, new.git_commit)
    if recorded != old.template_digest:
        return (
            f"git_commit {new.git_commit[:12]} holds images/{family} with digest {recorded}, "
            f"not the entry's {old.template_digest}"
        )
    if digest_at(family, old.git_commit) == old.template_digest:
        return f"git_commit {old.git_commit[:12]} already holds the entry's inputs; provenance is not rewritten"
    return None


def compare(base: Catalog, current: Catalog, digest_at: DigestAt | None = None) -> Result:
    """Every base entry unchanged and in place; anything else must be an appended entry.

    ``digest_at`` lets a provenance correction through when it checks out (``correction_error``).
    """
    result = Result(errors=rule_errors(current))
    for family, base_builds in base.families.items():
        cur_builds = current.families.get(family)
        if cur_builds is None:
            result.errors.append(
                f"family {family} was removed (it had {', '.join(b.version for b in base_builds)}); "
                f"catalog entries are immutable"
            )
            continue
        cur_by_version = {b.version: (i, b) for i, b in enumerate(cur_builds)}
        for index, old in enumerate(base_builds):
            found = cur_by_version.get(old.version)
            if found is None:
                result.errors.append(f"{family} {old.version} was removed; old versions are retained")
                continue
            position, new = found
            if _fields(new) != _fields(old) and {k for k, v in _fields(old).items() if _fields(new).get(k) != v} == {
                PROVENANCE
            }:
                why = correction_error(family, old, new, digest_at)
                if why is None:
                    result.corrected.append(f"{family} {old.version}: {old.git_commit[:12]} -> {new.git_commit[:12]}")
                else:
                    result.errors.append(f"{family} {old.version}: provenance correction refused: {why}")
            elif _fields(new) != _fields(old):
                changes = [
                    f"{key}: {value!r} -> {_fields(new).get(key)!r}"
                    for key, value in _fields(old).items()
                    if _fields(new).get(key) != value
                ]
                result.errors.append(
                    f"{family} {old.version} was changed ({'; '.join(changes)}); entries are immutable"
                )
            elif position != index:
                result.errors.append(f"{family} {old.version} moved from position {index} to {position}")
            else:
                result.unchanged += 1
        known = {b.version for b in base_builds}
        for build in cur_builds:
            if build.version not in known:
                result.added.append(f"{family} {build.version}")
                if base_builds and version_key(build.version) <= version_key(base_builds[-1].version):
                    result.errors.append(
                        f"{family} {build.version} is new but not greater than {base_builds[-1].version}, "
                        f"the latest on the base branch"
                    )
    for family, builds in current.families.items():
        if family not in base.families:
            result.added += [f"{family} {b.version}" for b in builds]
    return result


def _git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=check)
    except FileNotFoundError as exc:
        raise CheckError("git is not installed") from exc
    except subprocess.CalledProcessError as exc:
        raise CheckError(f"git {' '.join(args)}: {exc.stderr.strip()}") from exc


def _ref_exists(repo: Path, ref: str) -> bool:
    return _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False).returncode == 0


def default_base(repo: Path) -> str:
    env = os.environ.get("SAMAKIA_CATALOG_BASE")
    if env:
        return env
    for ref in ("origin/main", "main"):
        if _ref_exists(repo, ref):
            return ref
    raise CheckError("no base branch: neither origin/main nor main exists here; pass --base REF")


def catalog_at(repo: Path, ref: str, rel_path: str) -> Catalog:
    """The catalog as committed on ``ref`` (an empty catalog if the file is not there yet)."""
    if not _ref_exists(repo, ref):
        raise CheckError(f"base ref {ref!r} does not exist (fetch it, or pass --base)")
    if _git(repo, "cat-file", "-e", f"{ref}:{rel_path}", check=False).returncode != 0:
        return Catalog()
    text = _git(repo, "show", f"{ref}:{rel_path}").stdout
    try:
        return parse_catalog(text, f"{ref}:{rel_path}")
    except InputError as exc:
        raise CheckError(f"the base catalog is not valid: {exc}") from None


def check(catalog_path: str | Path, base: str | None = None) -> tuple[str, Result]:
    """Compare ``catalog_path`` (working tree) with the same path on ``base``; returns (ref, result)."""
    given = Path(catalog_path)
    if not given.is_file():
        raise CheckError("no such catalog file")
    path = given.resolve()
    repo = Path(_git(path.parent, "rev-parse", "--show-toplevel").stdout.strip()).resolve()
    # Only the image catalog is checked: a file under images/ of its repository, never an
    # arbitrary file (which would pass as "an empty catalog" and have its content echoed).
    if (repo / "images") not in path.parents or path.suffix not in (".yaml", ".yml"):
        raise CheckError("the catalog is a .yaml file under images/ of its repository")
    rel = path.relative_to(repo).as_posix()
    ref = base or default_base(repo)
    base_catalog = catalog_at(repo, ref, rel)
    try:
        current = load_catalog(path, missing_ok=False)
    except InputError as exc:
        raise CheckError(str(exc)) from None
    return ref, compare(base_catalog, current, lambda family, commit: template_digest_at(repo, commit, family))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ops.images.catalog_check", description=__doc__.split("\n\n")[0])
    ap.add_argument("--catalog", default=str(DEFAULT_CATALOG))
    ap.add_argument("--base", default=None, help="target branch to compare with (default origin/main, else main)")
    ap.add_argument("--added", action="store_true", help="print only the appended entries, 'FAMILY VERSION' a line")
    args = ap.parse_args(argv)
    try:
        ref, result = check(args.catalog, args.base)
    except CheckError as exc:
        print(f"catalog-check: cannot check {args.catalog}: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    if not result.ok:
        print(f"catalog-check: {args.catalog} rewrites the catalog of {ref}:", file=sys.stderr)
        for error in result.errors:
            print(f"  - {error}", file=sys.stderr)
        return EXIT_FINDINGS
    if args.added:
        print("\n".join(result.added))
        return EXIT_OK
    added = f", added: {', '.join(result.added)}" if result.added else ""
    corrected = f", provenance corrected: {'; '.join(result.corrected)}" if result.corrected else ""
    print(f"catalog-check: OK against {ref}: {result.unchanged} entries unchanged{added}{corrected}")
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
