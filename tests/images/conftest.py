"""Image tier fixtures: one real Packer build per session, cached by the input digest.

The build goes into a temporary catalog and a cache directory named after the digest of the
template inputs (template files, scripts, variables including the version), so a second run
with unchanged image code reuses the artifact (a checksum instead of a build), and any change
to the image code builds afresh.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from fabric.catalog import Catalog, ImageBuild, load_catalog
from fabric.paths import cache_root
from ops.images.build import artifact_paths, build_image
from ops.images.inputs import BuildInputs, build_inputs

FAMILY = "debian12-base"
TEST_VERSION = "0.0.1"
REPO = Path(__file__).resolve().parents[2]
STALE_AFTER_S = 3 * 24 * 3600


@dataclass(frozen=True)
class Built:
    inputs: BuildInputs
    entry: ImageBuild
    catalog_path: Path
    catalog: Catalog
    cache_dir: Path
    paths: dict[str, Path]
    seconds: float


def test_cache_dir(inputs: BuildInputs) -> Path:
    return cache_root() / "images-test" / inputs.family / inputs.digest.removeprefix("sha256:")[:16]


def _prune_stale(keep: Path) -> None:
    """Drop test builds of image code that has not been tested for a few days."""
    now = time.time()
    for sibling in keep.parent.glob("*"):
        if sibling != keep and sibling.is_dir() and now - sibling.stat().st_mtime > STALE_AFTER_S:
            shutil.rmtree(sibling, ignore_errors=True)


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    inputs = build_inputs(FAMILY, TEST_VERSION)
    cache_dir = test_cache_dir(inputs)
    catalog_path = tmp_path_factory.mktemp("catalog") / "catalog.yaml"
    start = time.monotonic()
    # dev: the tier builds whatever image code the checkout holds, committed or not; the entry
    # says so (test_provenance.py covers the refusal of uncommitted code without it).
    entry = build_image(FAMILY, TEST_VERSION, catalog_path, cache_dir=cache_dir, dev=True, log=print)
    seconds = time.monotonic() - start
    cache_dir.touch()
    _prune_stale(cache_dir)
    return Built(
        inputs=inputs,
        entry=entry,
        catalog_path=catalog_path,
        catalog=load_catalog(catalog_path),
        cache_dir=cache_dir,
        paths=artifact_paths(cache_dir, entry.file_name),
        seconds=seconds,
    )


@pytest.fixture(scope="session")
def rootfs(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The template unpacked the way Proxmox does it (numeric owners, permissions kept)."""
    root = tmp_path_factory.mktemp("rootfs")
    artifact = str(built.paths["artifact"])
    subprocess.run(
        ["tar", "--zstd", "-xp", "--numeric-owner", "--acls", "--xattrs", "-C", str(root), "-f", artifact], check=True
    )
    return root
