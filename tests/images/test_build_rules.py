"""The build command's refusals: no version twice, no going back, no artifact overwritten."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fabric.catalog import load_catalog, save_catalog
from ops.images.artifact import sha256_file
from ops.images.build import ArtifactConflict, VersionExists, VersionNotMonotonic, artifact_paths, build_image
from ops.images.inputs import build_inputs

from .conftest import FAMILY, REPO, TEST_VERSION, Built


def test_refuses_a_version_already_catalogued(built: Built) -> None:
    before = built.catalog_path.read_bytes()
    with pytest.raises(VersionExists, match=rf"{FAMILY} {TEST_VERSION} is already in"):
        build_image(FAMILY, TEST_VERSION, built.catalog_path, cache_dir=built.cache_dir, dev=True, log=lambda _m: None)
    assert built.catalog_path.read_bytes() == before


def test_refuses_a_version_below_the_latest(built: Built, tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.yaml"
    shutil.copy(built.catalog_path, catalog)
    with pytest.raises(VersionNotMonotonic, match=r"not greater than the latest catalogued version 0\.0\.1"):
        build_image(FAMILY, "0.0.0", catalog, cache_dir=tmp_path / "cache", dev=True, log=lambda _m: None)
    assert load_catalog(catalog).versions(FAMILY) == [TEST_VERSION]


def test_warm_build_reuses_the_cached_artifact(built: Built, tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.yaml"
    mtime = built.paths["artifact"].stat().st_mtime
    start = time.monotonic()
    entry = build_image(FAMILY, TEST_VERSION, catalog, cache_dir=built.cache_dir, dev=True, log=lambda _m: None)
    assert time.monotonic() - start < 20
    assert entry == built.entry
    assert load_catalog(catalog).find(FAMILY, TEST_VERSION) == built.entry
    assert built.paths["artifact"].stat().st_mtime == mtime, "the artifact was rewritten"


def _fake_cache(built: Built, tmp_path: Path) -> dict[str, Path]:
    cache = tmp_path / "cache"
    cache.mkdir()
    paths = artifact_paths(cache, built.entry.file_name)
    for key in ("sha256", "manifest", "record"):
        shutil.copy(built.paths[key], paths[key])
    shutil.copy(built.paths["artifact"], paths["artifact"])
    return paths


def test_refuses_an_artifact_built_from_other_inputs(built: Built, tmp_path: Path) -> None:
    paths = _fake_cache(built, tmp_path)
    record = json.loads(paths["record"].read_text())
    record["input_digest"] = "sha256:" + "1" * 64
    paths["record"].write_text(json.dumps(record))
    before = sha256_file(paths["artifact"])
    with pytest.raises(ArtifactConflict, match="built from different inputs"):
        build_image(
            FAMILY, TEST_VERSION, tmp_path / "c.yaml", cache_dir=paths["artifact"].parent, dev=True, log=lambda _m: None
        )
    assert sha256_file(paths["artifact"]) == before
    assert not (tmp_path / "c.yaml").exists(), "nothing may be catalogued"


def test_refuses_a_modified_artifact(built: Built, tmp_path: Path) -> None:
    paths = _fake_cache(built, tmp_path)
    with open(paths["artifact"], "r+b") as f:
        f.seek(1000)
        f.write(b"tampered")
    with pytest.raises(ArtifactConflict, match="modified after its build"):
        build_image(
            FAMILY, TEST_VERSION, tmp_path / "c.yaml", cache_dir=paths["artifact"].parent, dev=True, log=lambda _m: None
        )


def test_refuses_an_artifact_without_build_record(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / f"{FAMILY}_{TEST_VERSION}_amd64.tar.zst").write_bytes(b"someone else's file")
    with pytest.raises(ArtifactConflict, match="no build record"):
        build_image(FAMILY, TEST_VERSION, tmp_path / "c.yaml", cache_dir=cache, dev=True, log=lambda _m: None)
    assert (cache / f"{FAMILY}_{TEST_VERSION}_amd64.tar.zst").read_bytes() == b"someone else's file"


def test_cache_key_changes_with_every_input() -> None:
    base = build_inputs(FAMILY, "1.0.0")
    variants = [
        build_inputs(FAMILY, "1.0.1"),
        build_inputs(FAMILY, "1.0.0", mirror="http://mirror.example/debian"),
        build_inputs(FAMILY, "1.0.0", snapshot="20251101T000000Z"),
        build_inputs(FAMILY, "1.0.0", zstd_level=3),
    ]
    digests = {base.digest, *(v.digest for v in variants)}
    assert len(digests) == 5
    assert build_inputs(FAMILY, "1.0.0").digest == base.digest


def test_make_image_cli_refuses_the_committed_latest_version(tmp_path: Path) -> None:
    """``make image`` with a version the repository catalog already holds fails before any build."""
    catalog = REPO / "images" / "catalog.yaml"
    latest = load_catalog(catalog).versions(FAMILY)[-1]
    copy = tmp_path / "catalog.yaml"
    save_catalog(load_catalog(catalog), copy)
    r = subprocess.run(
        [sys.executable, "-m", "ops.images.build", "--family", FAMILY, "--version", latest, "--catalog", str(copy)],
        check=False,
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "SAMAKIA_CACHE": str(tmp_path / "cache")},
    )
    assert r.returncode == 1
    assert f"{FAMILY} {latest} is already in" in r.stderr
    assert not (tmp_path / "cache").exists(), "nothing may be built"
