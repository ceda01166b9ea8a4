"""Build one immutable image version and append it to a catalog.

    python -m ops.images.build --family debian12-base --version 1.2.0 [--catalog images/catalog.yaml]

The spec's order for image changes: modify image code, build a new image version, commit the
image changes (code and catalog entry together), update the reference. This command is the
second step:

1. refuses a version that is already catalogued or is not greater than the family's latest, and
   image code that differs from its last commit unless ``--dev`` marks the entry dev-only
   (``ops.images.provenance``; the catalog check refuses dev-only entries);
2. runs the family's Packer template (``images/<family>/``) into the artifact cache
   (``$SAMAKIA_CACHE/images/<family>/``, outside the repository), unless the cache already holds
   this exact build: same input digest, same sha256 (a warm build costs a checksum);
3. refuses an artifact file that exists from different inputs or was modified: a file name,
   once built, is never overwritten;
4. verifies the tarball (sha256 against Packer's manifest, layout, stamp, no host keys, ...);
5. appends the entry to the catalog, naming the commit the inputs came from (the last commit
   that touched ``images/<family>/``; its time is the build's SOURCE_DATE_EPOCH).

From Python: ``build_image(family, version, catalog_path, ...) -> ImageBuild``.

Exit status: 0 built (or found in the cache) and catalogued; 1 refused or failed (the version
exists or is not greater than the latest, an artifact conflict, a failed build or verification);
2 unusable input (a malformed argument or catalog, or image code that differs from its commit
without ``--dev``), before any work.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from fabric.catalog import ImageBuild, load_catalog, save_catalog, version_key
from fabric.errors import EXIT_FINDINGS, EXIT_UNUSABLE
from fabric.errors import InputError as FabricInputError
from fabric.paths import cache_root
from ops.images.artifact import inspect_artifact, read_packer_manifest, sha256_file
from ops.images.inputs import (
    DEFAULT_CATALOG,
    DEFAULT_MIRROR,
    DEFAULT_SNAPSHOT_MIRROR,
    DEFAULT_SUITE,
    DEFAULT_ZSTD_LEVEL,
    IMAGES_DIR,
    BuildInputs,
    build_inputs,
    default_cache_dir,
    family_dir,
    tool_versions,
)
from ops.images.provenance import DirtyInputs, Provenance, inputs_provenance

Log = Callable[[str], None]


class BuildError(RuntimeError):
    """The build ran and failed, or its artifact did not verify."""


class VersionExists(BuildError):
    """The version is already in the catalog: versions are immutable."""


class VersionNotMonotonic(BuildError):
    """The version is not greater than the family's latest catalogued version."""


class ArtifactConflict(BuildError):
    """An artifact with this file name exists and is not this build: it is never overwritten."""


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock (concurrent builds of the same file or catalog wait for each other)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _check_catalog(catalog_path: Path, family: str, version: str) -> None:
    catalog = load_catalog(catalog_path)
    versions = catalog.versions(family)
    if version in versions:
        raise VersionExists(
            f"{family} {version} is already in {catalog_path}: catalogued versions are immutable; "
            f"build a new version (latest is {versions[-1]})"
        )
    if versions and version_key(version) <= version_key(versions[-1]):
        raise VersionNotMonotonic(
            f"{family} {version} is not greater than the latest catalogued version {versions[-1]} "
            f"in {catalog_path}: versions are monotonic per family"
        )


def artifact_paths(cache_dir: Path, file_name: str) -> dict[str, Path]:
    """The files one build leaves in the cache."""
    return {
        "artifact": cache_dir / file_name,
        "sha256": cache_dir / f"{file_name}.sha256",
        "manifest": cache_dir / f"{file_name}.manifest.json",
        "record": cache_dir / f"{file_name}.build.json",
    }


def _assert_nothing_mounted(path: Path) -> None:
    prefix = str(path.resolve()) + "/"
    with open("/proc/mounts") as f:
        mounted = [line.split()[1] for line in f if line.split()[1].startswith(prefix)]
    if mounted:
        raise BuildError(f"refusing to delete {path}: still mounted inside it: {mounted}")


def _run_packer(
    inputs: BuildInputs, *, images_dir: Path, out_dir: Path, work_dir: Path, commit: str, sde: int, log: Log
) -> float:
    """Run ``packer build``; returns seconds. Output goes to ``work_dir/packer.log`` and ``log``."""
    template = family_dir(inputs.family, images_dir)
    args = ["packer", "build", "-color=false", "-timestamp-ui"]
    variables = {
        **inputs.packer_vars(),
        "output_dir": str(out_dir),
        "work_dir": str(work_dir),
        "source_date_epoch": str(sde),
        "git_commit": commit,
    }
    for key, value in variables.items():
        args += ["-var", f"{key}={value}"]
    args.append(str(template))
    env = {**os.environ, "CHECKPOINT_DISABLE": "1", "PACKER_NO_COLOR": "1", "SOURCE_DATE_EPOCH": str(sde)}
    log(f"build-image: packer build {inputs.family} {inputs.version} (work dir {work_dir})")
    start = time.monotonic()
    with open(work_dir / "packer.log", "w") as plog:
        proc = subprocess.Popen(
            args, cwd=work_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert proc.stdout is not None
        tail: list[str] = []
        for line in proc.stdout:
            plog.write(line)
            tail = [*tail[-39:], line.rstrip()]
            if "==>" in line or ": 10-" in line or ": 20-" in line or ": 30-" in line or ": 40-" in line:
                log("  " + line.rstrip())
        rc = proc.wait()
    if rc != 0:
        raise BuildError(f"packer build failed (exit {rc}); last lines:\n" + "\n".join(tail))
    return time.monotonic() - start


def _verify(paths: dict[str, Path], inputs: BuildInputs, commit: str, sde: int) -> tuple[str, int]:
    """Full verification of a fresh artifact; returns (sha256, size)."""
    artifact = paths["artifact"]
    sha = sha256_file(artifact)
    size = artifact.stat().st_size
    m_size, m_sha = read_packer_manifest(paths["manifest"], inputs.file_name)
    problems = []
    if m_sha != sha:
        problems.append(f"sha256 {sha} differs from Packer's checksum {m_sha}")
    if m_size != size:
        problems.append(f"size {size} differs from Packer's manifest {m_size}")
    inspection = inspect_artifact(
        artifact,
        expect_stamp={
            "FAMILY": inputs.family,
            "VERSION": inputs.version,
            "GIT_COMMIT": commit,
            "TEMPLATE_DIGEST": inputs.template_digest,
            "BASE_SUITE": inputs.suite,
            "MIRROR": inputs.effective_mirror,
            "BUILD_TIME": datetime.fromtimestamp(sde, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        max_mtime=sde,
    )
    problems += inspection.problems
    if problems:
        raise BuildError(f"{artifact} failed verification:\n  " + "\n  ".join(problems[:30]))
    return sha, size


def _cold_build(
    inputs: BuildInputs,
    paths: dict[str, Path],
    *,
    images_dir: Path,
    stamp: tuple[str, int],
    provenance: dict[str, Any],
    log: Log,
) -> dict[str, Any]:
    """Build into a staging directory, verify, publish.

    ``stamp`` is the (commit, epoch) the image records; ``provenance`` joins the build record.
    """
    commit, sde = stamp
    cache_dir = paths["artifact"].parent
    token = f"{inputs.family}-{inputs.version}-{uuid.uuid4().hex[:8]}"
    # Scratch space under the cache: a real disk that allows device nodes (debootstrap needs them).
    work_dir = cache_root() / "images" / ".work" / token
    out_dir = cache_dir / f".staging-{token}"
    work_dir.mkdir(parents=True)
    out_dir.mkdir(parents=True)
    try:
        built_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        seconds = _run_packer(
            inputs, images_dir=images_dir, out_dir=out_dir, work_dir=work_dir, commit=commit, sde=sde, log=log
        )
        staged = {
            "artifact": out_dir / inputs.file_name,
            "sha256": out_dir / f"{inputs.file_name}.sha256",
            "manifest": out_dir / "packer-manifest.json",
        }
        sha, size = _verify(staged, inputs, commit, sde)
        base = (work_dir / "base-release.txt").read_text().split()
        sources = [f"{base[i]}#sha256={base[i + 1]}" for i in range(0, len(base), 3)] or [inputs.effective_mirror]
        record = {
            **asdict(inputs),
            "input_digest": inputs.digest,
            "file_name": inputs.file_name,
            "sha256": sha,
            "size": size,
            "sources": sources,
            "built_at": built_at,
            "git_commit": commit,
            **provenance,
            "source_date_epoch": sde,
            "build_seconds": round(seconds, 1),
            "tools": tool_versions(),
        }
        # Publish: the artifact last-but-one, the record last; nothing existing is replaced.
        for key in ("sha256", "manifest", "artifact"):
            if paths[key].exists():
                raise ArtifactConflict(f"{paths[key]} appeared during the build; not overwriting it")
            os.link(staged[key], paths[key])
        tmp = paths["record"].with_suffix(".tmp")
        tmp.write_text(json.dumps(record, indent=2) + "\n")
        tmp.replace(paths["record"])
        log(f"build-image: built {inputs.file_name} in {seconds:.0f}s, {size} bytes, sha256 {sha}")
        return record
    finally:
        _assert_nothing_mounted(work_dir)
        shutil.rmtree(work_dir, ignore_errors=True)
        shutil.rmtree(out_dir, ignore_errors=True)


def _cached_build(inputs: BuildInputs, paths: dict[str, Path], log: Log) -> dict[str, Any]:
    """The artifact exists: it must be this very build, unmodified."""
    artifact = paths["artifact"]
    if not paths["record"].exists():
        raise ArtifactConflict(f"{artifact} exists but has no build record; not overwriting it (move it away)")
    record: dict[str, Any] = json.loads(paths["record"].read_text())
    if record.get("input_digest") != inputs.digest:
        raise ArtifactConflict(
            f"{artifact} exists and was built from different inputs "
            f"({record.get('input_digest')} != {inputs.digest}): an artifact is never overwritten; "
            f"build a new version"
        )
    sha = sha256_file(artifact)
    if sha != record["sha256"] or artifact.stat().st_size != record["size"]:
        raise ArtifactConflict(f"{artifact} was modified after its build (sha256 {sha} != {record['sha256']})")
    if paths["sha256"].read_text().split()[0] != sha:
        raise ArtifactConflict(f"{paths['sha256']} does not match {artifact}")
    log(f"build-image: reusing cached {inputs.file_name} (inputs {inputs.digest[:19]}, sha256 {sha})")
    return record


def _epoch(given: int | None, provenance: Provenance) -> int:
    """SOURCE_DATE_EPOCH: given, else the environment's, else the inputs commit's time."""
    if given is not None:
        return given
    env = os.environ.get("SOURCE_DATE_EPOCH")
    if env:
        if not env.isdigit():
            raise FabricInputError(f"SOURCE_DATE_EPOCH={env!r} is not an integer")
        return int(env)
    return provenance.epoch


def _check_cached_provenance(record: dict[str, Any], provenance: Provenance, dev: bool, artifact: Path) -> None:
    """A catalogued (non-dev) entry may reuse only an artifact built from the same commit, not as dev."""
    if dev:
        return
    built_from = record.get("inputs_commit")
    if record.get("dev") or built_from != provenance.recorded:
        raise ArtifactConflict(
            f"{artifact} was built {'as dev-only' if record.get('dev') else 'before provenance was recorded'} "
            f"or from commit {built_from}, not {provenance.recorded}: it cannot back a catalogued entry; "
            f"move it out of the cache to build it afresh"
        )


def build_image(
    family: str,
    version: str,
    catalog_path: str | Path = DEFAULT_CATALOG,
    *,
    cache_dir: str | Path | None = None,
    suite: str = DEFAULT_SUITE,
    mirror: str = DEFAULT_MIRROR,
    snapshot: str = "",
    snapshot_mirror: str = DEFAULT_SNAPSHOT_MIRROR,
    zstd_level: int = DEFAULT_ZSTD_LEVEL,
    dev: bool = False,
    images_dir: Path = IMAGES_DIR,
    stamp_commit: str | None = None,
    build_epoch: int | None = None,
    reuse: bool = True,
    log: Log = _stderr,
) -> ImageBuild:
    """Build (or reuse the cached build of) ``family`` ``version`` and append it to the catalog.

    ``cache_dir`` defaults to ``$SAMAKIA_CACHE/images/<family>``. The entry names the commit the
    inputs came from (``ops.images.provenance``); image code that differs from it raises
    ``DirtyInputs`` unless ``dev`` marks the entry dev-only. ``images_dir`` builds another
    checkout's image code (a ``git worktree`` of an older commit). ``stamp_commit`` and
    ``build_epoch`` override what the image's stamp records (default: that commit and its time,
    ``$SOURCE_DATE_EPOCH`` winning), only to reproduce a build made before provenance was
    recorded; the catalog entry still names the true commit. With ``reuse=False`` an existing
    artifact is a conflict instead of a cache hit. Raises ``VersionExists``,
    ``VersionNotMonotonic``, ``ArtifactConflict``, ``InputError`` (``DirtyInputs``) or
    ``BuildError``. Returns the catalog entry it appended.
    """
    catalog_path = Path(catalog_path)
    inputs = build_inputs(
        family,
        version,
        suite=suite,
        mirror=mirror,
        snapshot=snapshot,
        snapshot_mirror=snapshot_mirror,
        zstd_level=zstd_level,
        images_dir=images_dir,
    )
    _check_catalog(catalog_path, family, version)  # fail fast, before any work
    provenance = inputs_provenance(family, images_dir)
    if provenance.dirty and not dev:
        shown = ", ".join(provenance.changed[:5]) + (" ..." if len(provenance.changed) > 5 else "")
        raise DirtyInputs(
            f"images/{family} differs from its last commit {provenance.commit[:12]} ({shown}): a catalogued "
            f"build records the commit its inputs came from; commit the image code and build again, or pass "
            f"--dev for a dev-only entry (the catalog check refuses those)"
        )
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir(family)
    paths = artifact_paths(cache, inputs.file_name)
    with _locked(cache / f".{inputs.file_name}.lock"):
        if paths["artifact"].exists():
            if not reuse:
                raise ArtifactConflict(f"{paths['artifact']} already exists; artifacts are never overwritten")
            record = _cached_build(inputs, paths, log)
            _check_cached_provenance(record, provenance, dev, paths["artifact"])
        else:
            for key in ("record", "sha256", "manifest"):  # leftovers of an artifact deleted from the cache
                paths[key].unlink(missing_ok=True)
            if os.geteuid() != 0:
                raise BuildError("building an image needs root (debootstrap, chroot); run it as root or in CI")
            stamp = (stamp_commit or provenance.recorded, _epoch(build_epoch, provenance))
            fields = {"inputs_commit": provenance.recorded, "dev": dev}
            record = _cold_build(inputs, paths, images_dir=images_dir, stamp=stamp, provenance=fields, log=log)

    entry = ImageBuild(
        version=version,
        file_name=inputs.file_name,
        sha256=record["sha256"],
        size=record["size"],
        sources=record["sources"],
        built_at=record["built_at"],
        git_commit=record.get("inputs_commit", record["git_commit"]),
        base_suite=inputs.suite,
        template_digest=inputs.template_digest,
        dev=True if dev else None,
    )
    lock_name = hashlib.sha256(str(catalog_path.resolve()).encode()).hexdigest()[:16]
    with _locked(cache_root() / "images" / ".locks" / f"catalog-{lock_name}.lock"):
        _check_catalog(catalog_path, family, version)  # again: someone may have appended meanwhile
        catalog = load_catalog(catalog_path).with_build(family, entry)
        catalog_path.parent.mkdir(parents=True, exist_ok=True)
        save_catalog(catalog, catalog_path)
    log(f"build-image: catalogued {family} {version} in {catalog_path}")
    return entry


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ops.images.build", description=__doc__.split("\n\n")[0])
    ap.add_argument("--family", required=True, help="image family: a directory of images/")
    ap.add_argument("--version", required=True, help="new version, MAJOR.MINOR.PATCH, greater than the latest")
    ap.add_argument("--catalog", default=str(DEFAULT_CATALOG), help="catalog file to append to")
    ap.add_argument("--cache-dir", default=None, help="artifact directory (default $SAMAKIA_CACHE/images/<family>)")
    ap.add_argument("--suite", default=DEFAULT_SUITE)
    ap.add_argument("--mirror", default=DEFAULT_MIRROR)
    ap.add_argument("--snapshot", default="", help="pin the base to snapshot.debian.org, e.g. 20251101T000000Z")
    ap.add_argument("--snapshot-mirror", default=DEFAULT_SNAPSHOT_MIRROR)
    ap.add_argument("--zstd-level", type=int, default=DEFAULT_ZSTD_LEVEL)
    ap.add_argument(
        "--dev",
        action="store_true",
        help="allow uncommitted image code; the entry is marked dev-only and the catalog check refuses it",
    )
    args = ap.parse_args(argv)
    if not args.version:
        ap.error("VERSION is required: make image FAMILY=... VERSION=x.y.z")
    try:
        entry = build_image(
            args.family,
            args.version,
            args.catalog,
            cache_dir=args.cache_dir,
            suite=args.suite,
            mirror=args.mirror,
            snapshot=args.snapshot,
            snapshot_mirror=args.snapshot_mirror,
            zstd_level=args.zstd_level,
            dev=args.dev,
        )
    except FabricInputError as exc:  # malformed argument or catalog: nothing was built
        print(f"build-image: error: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    except BuildError as exc:  # refused (version exists, not monotonic, conflict) or failed
        print(f"build-image: {exc}", file=sys.stderr)
        return EXIT_FINDINGS
    cache = Path(args.cache_dir) if args.cache_dir else default_cache_dir(args.family)
    print(f"artifact: {cache / entry.file_name}")
    print(f"catalog entry ({args.catalog}):")
    print(yaml.safe_dump({args.family: [entry.model_dump(mode="json", exclude_none=True)]}, sort_keys=False), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

__all__ = [
    "IMAGES_DIR",
    "ArtifactConflict",
    "BuildError",
    "DirtyInputs",
    "VersionExists",
    "VersionNotMonotonic",
    "artifact_paths",
    "build_image",
    "main",
]
