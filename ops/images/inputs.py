"""What an image build is made of: the template's files, its variables, where it is cached.

The *template digest* covers the image code of a family (every file under ``images/<family>/``
except documentation). The *input digest* adds the variables that change the artifact
(version, suite, mirror, snapshot, compression level). Two builds with the same input digest
are the same build: the cache is keyed by it, and the reproducibility benchmark compares them.
The git commit and SOURCE_DATE_EPOCH are recorded, not keyed (``ops.images.provenance``): a
cached artifact keeps the commit it was built at.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

from fabric.errors import InputError as FabricInputError
from fabric.paths import PROJECT_ROOT, cache_root

IMAGES_DIR = PROJECT_ROOT / "images"
DEFAULT_CATALOG = IMAGES_DIR / "catalog.yaml"
ARCH = "amd64"

DEFAULT_SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEFAULT_SNAPSHOT_MIRROR = "http://snapshot.debian.org/archive/debian"
DEFAULT_ZSTD_LEVEL = 12

VERSION_RE = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
FAMILY_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
SNAPSHOT_RE = re.compile(r"^\d{8}T\d{6}Z$")

# Files of a family directory that are documentation, not build input.
_NOT_INPUT = re.compile(r"(\.md$|(^|/)__pycache__/|(^|/)\.)")


class InputError(FabricInputError):
    """A build input is malformed (family, version, mirror, ...); a kind of the fabric's ``InputError``,
    so a malformed catalog and a malformed argument are handled alike (exit 2)."""


def default_cache_dir(family: str) -> Path:
    """Where artifacts of ``family`` live: ``<cache>/images/<family>/``."""
    return cache_root() / "images" / family


def file_name(family: str, version: str) -> str:
    """The template file name on Proxmox storage (and in the cache)."""
    return f"{family}_{version}_{ARCH}.tar.zst"


def parse_version(version: str) -> tuple[int, int, int]:
    m = VERSION_RE.match(version)
    if not m:
        raise InputError(f"version {version!r} is not MAJOR.MINOR.PATCH")
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


def family_dir(family: str, images_dir: Path = IMAGES_DIR) -> Path:
    if not FAMILY_RE.match(family):
        raise InputError(f"family {family!r} must be lowercase letters, digits and dashes")
    d = images_dir / family
    if not any(d.glob("*.pkr.hcl")):
        known = sorted(p.name for p in images_dir.iterdir() if any(p.glob("*.pkr.hcl"))) if images_dir.is_dir() else []
        raise InputError(f"no Packer template for family {family!r} in {d} (families: {', '.join(known) or 'none'})")
    return d


def template_files(family: str, images_dir: Path = IMAGES_DIR) -> list[Path]:
    """Every file that is input to the family's build, sorted by relative path."""
    root = family_dir(family, images_dir)
    files = []
    for p in root.rglob("*"):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and not _NOT_INPUT.search(rel):
            files.append(p)
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def template_digest(family: str, images_dir: Path = IMAGES_DIR) -> str:
    """``sha256:<hex>`` over the relative path, executable bit and content of each input file."""
    root = family_dir(family, images_dir)
    h = hashlib.sha256()
    for p in template_files(family, images_dir):
        rel = p.relative_to(root).as_posix()
        mode = "x" if os.access(p, os.X_OK) else "-"
        data = p.read_bytes()
        h.update(f"{rel}\0{mode}\0{len(data)}\0".encode())
        h.update(data)
    return "sha256:" + h.hexdigest()


@dataclass(frozen=True)
class BuildInputs:
    """Everything that determines an artifact's content (besides commit and build time)."""

    family: str
    version: str
    suite: str = DEFAULT_SUITE
    mirror: str = DEFAULT_MIRROR
    snapshot: str = ""
    snapshot_mirror: str = DEFAULT_SNAPSHOT_MIRROR
    zstd_level: int = DEFAULT_ZSTD_LEVEL
    template_digest: str = ""

    @property
    def file_name(self) -> str:
        return file_name(self.family, self.version)

    @property
    def effective_mirror(self) -> str:
        """The mirror the base really comes from (the snapshot when one is pinned)."""
        return f"{self.snapshot_mirror}/{self.snapshot}" if self.snapshot else self.mirror

    @property
    def digest(self) -> str:
        """``sha256:<hex>`` of the inputs: the cache key of the artifact."""
        blob = json.dumps(asdict(self), sort_keys=True).encode()
        return "sha256:" + hashlib.sha256(blob).hexdigest()

    def packer_vars(self) -> dict[str, str]:
        return {
            "family": self.family,
            "version": self.version,
            "suite": self.suite,
            "mirror": self.mirror,
            "snapshot": self.snapshot,
            "snapshot_mirror": self.snapshot_mirror,
            "zstd_level": str(self.zstd_level),
            "template_digest": self.template_digest,
        }


def build_inputs(
    family: str,
    version: str,
    *,
    suite: str = DEFAULT_SUITE,
    mirror: str = DEFAULT_MIRROR,
    snapshot: str = "",
    snapshot_mirror: str = DEFAULT_SNAPSHOT_MIRROR,
    zstd_level: int = DEFAULT_ZSTD_LEVEL,
    images_dir: Path = IMAGES_DIR,
) -> BuildInputs:
    """Validate and collect the inputs of one build (computes the template digest)."""
    parse_version(version)
    if not re.match(r"^(https?|file)://", mirror):
        raise InputError(f"mirror {mirror!r} must be an http://, https:// or file:// URL")
    if snapshot and not SNAPSHOT_RE.match(snapshot):
        raise InputError(f"snapshot {snapshot!r} must look like 20251101T000000Z")
    if not 1 <= zstd_level <= 19:
        raise InputError(f"zstd_level {zstd_level} must be 1..19")
    return BuildInputs(
        family=family,
        version=version,
        suite=suite,
        mirror=mirror.rstrip("/"),
        snapshot=snapshot,
        snapshot_mirror=snapshot_mirror.rstrip("/"),
        zstd_level=zstd_level,
        template_digest=template_digest(family, images_dir),
    )


def _git(repo: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip()


def commit_time(commit: str, repo: Path = PROJECT_ROOT) -> int:
    """Commit time of ``commit`` (the SOURCE_DATE_EPOCH a build at that commit used by default)."""
    ct = _git(repo, "show", "-s", "--format=%ct", commit)
    if not ct or not ct.isdigit():
        raise InputError(f"unknown commit {commit!r}")
    return int(ct)


def tool_versions() -> dict[str, str]:
    """Versions of the host tools that shape the artifact (recorded with every build)."""
    probes = {
        "packer": ["packer", "version"],
        "debootstrap": ["debootstrap", "--version"],
        "tar": ["tar", "--version"],
        "zstd": ["zstd", "--version"],
    }
    out = {}
    for name, cmd in probes.items():
        try:
            first = subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.splitlines()
            out[name] = first[0].strip() if first else "unknown"
        except OSError:
            out[name] = "missing"
    return out
