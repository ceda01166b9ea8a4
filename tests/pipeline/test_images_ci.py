"""The images step of CI (scripts/ci/images.sh, `make images-ci`) on scratch repositories: an image
change must carry its catalog entry; nothing to build when no entry is new. The two-build compare it
then runs is tested on small templates in tests/unit/test_image_compare.py."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tests.pipeline.conftest import ROOT


def _git(repo: Path, *args: str) -> str:
    cmd = ["git", "-c", "user.name=ci", "-c", "user.email=ci@example.invalid", "-c", "commit.gpgsign=false", *args]
    return subprocess.run(cmd, cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


def _repo(tmp_path: Path) -> tuple[Path, str]:
    repo = tmp_path / "repo"
    (repo / "images" / "debian12-base").mkdir(parents=True)
    shutil.copy(ROOT / "images" / "catalog.yaml", repo / "images" / "catalog.yaml")
    (repo / "images" / "debian12-base" / "packages.txt").write_text("openssh-server\n")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "base")
    return repo, _git(repo, "rev-parse", "HEAD")


def _run(repo: Path, base: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [str(ROOT / "scripts" / "ci" / "images.sh"), base, str(tmp_path / "out")]
    return subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, check=False)


def test_image_code_changed_without_a_catalog_entry_fails_naming_the_family(tmp_path: Path) -> None:
    repo, base = _repo(tmp_path)
    (repo / "images" / "debian12-base" / "packages.txt").write_text("openssh-server\ncurl\n")
    _git(repo, "commit", "-qam", "add curl to the image")
    result = _run(repo, base, tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "images/debian12-base changed" in result.stderr and "adds no catalog entry" in result.stderr
    assert not (tmp_path / "out").exists()  # nothing was built


def test_no_image_change_has_nothing_to_build(tmp_path: Path) -> None:
    repo, base = _repo(tmp_path)
    (repo / "README").write_text("not an image\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "docs")
    result = _run(repo, base, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no new image version" in result.stdout


def test_a_rewritten_entry_fails_before_any_build(tmp_path: Path) -> None:
    repo, base = _repo(tmp_path)
    catalog = repo / "images" / "catalog.yaml"
    catalog.write_text(catalog.read_text().replace("size: 58010548", "size: 58010549"))
    _git(repo, "commit", "-qam", "rewrite")
    result = _run(repo, base, tmp_path)
    assert result.returncode == 1
    assert "1.0.0 was changed" in result.stderr
