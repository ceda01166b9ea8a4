"""The catalog cannot be rewritten: proven against a real git history in a temporary repository."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fabric.catalog import Catalog, ImageBuild, load_catalog, save_catalog
from ops.images.catalog_check import check, compare, rule_errors

from .conftest import FAMILY, REPO

GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "test",
    "GIT_AUTHOR_EMAIL": "test@example.org",
    "GIT_COMMITTER_NAME": "test",
    "GIT_COMMITTER_EMAIL": "test@example.org",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def entry(version: str, digest: str = "a") -> ImageBuild:
    return ImageBuild(
        version=version,
        file_name=f"{FAMILY}_{version}_amd64.tar.zst",
        sha256=digest * 64,
        size=58_000_000,
        sources=["http://deb.debian.org/debian/dists/bookworm/InRelease"],
        built_at="2026-11-25T12:00:00Z",
        git_commit="0" * 40,
        base_suite="bookworm",
    )


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True, env=GIT_ENV
    ).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository whose main branch holds a catalog with 1.0.0 and 1.1.0; HEAD is a PR branch."""
    r = tmp_path / "repo"
    (r / "images").mkdir(parents=True)
    git(r, "init", "-q", "-b", "main")
    save_catalog(Catalog(families={FAMILY: [entry("1.0.0", "a"), entry("1.1.0", "b")]}), r / "images/catalog.yaml")
    git(r, "add", "-A")
    git(r, "commit", "-q", "-m", "images: debian12-base 1.0.0, 1.1.0")
    git(r, "checkout", "-q", "-b", "pr")
    return r


def edit(repo: Path, mutate: object) -> Path:
    path = repo / "images/catalog.yaml"
    data = yaml.safe_load(path.read_text())
    mutate(data["families"])  # type: ignore[operator]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def run_cli(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ops.images.catalog_check", "--catalog", str(repo / "images/catalog.yaml"), *args],
        check=False,
        capture_output=True,
        text=True,
        cwd=REPO,
        env={k: v for k, v in GIT_ENV.items() if k != "SAMAKIA_CATALOG_BASE"},
    )


def test_modifying_an_entry_fails(repo: Path) -> None:
    path = edit(repo, lambda f: f[FAMILY][0].update(sha256="c" * 64))
    ref, result = check(path, "main")
    assert ref == "main"
    assert not result.ok
    assert any(f"{FAMILY} 1.0.0 was changed" in e and "sha256" in e for e in result.errors), result.errors
    r = run_cli(repo, "--base", "main")
    assert r.returncode == 1 and "1.0.0 was changed" in r.stderr


def test_modifying_an_entry_fails_even_when_committed(repo: Path) -> None:
    edit(repo, lambda f: f[FAMILY][1].update(size=1))
    git(repo, "commit", "-q", "-am", "sneaky")
    assert git(repo, "status", "--porcelain") == ""
    _, result = check(repo / "images/catalog.yaml", "main")
    assert [e for e in result.errors if "1.1.0 was changed" in e and "size: 58000000 -> 1" in e], result.errors


def test_deleting_an_entry_fails(repo: Path) -> None:
    path = edit(repo, lambda f: f[FAMILY].pop(0))
    _, result = check(path, "main")
    assert f"{FAMILY} 1.0.0 was removed; old versions are retained" in result.errors
    assert run_cli(repo, "--base", "main").returncode == 1


def test_deleting_a_family_fails(repo: Path) -> None:
    path = edit(repo, lambda f: f.pop(FAMILY))
    _, result = check(path, "main")
    assert any(e.startswith(f"family {FAMILY} was removed") for e in result.errors)


def test_appending_an_entry_passes(repo: Path) -> None:
    path = repo / "images/catalog.yaml"
    save_catalog(load_catalog(path).with_build(FAMILY, entry("1.2.0", "d")), path)
    _, result = check(path, "main")
    assert result.ok, result.errors
    assert result.unchanged == 2 and result.added == [f"{FAMILY} 1.2.0"]
    r = run_cli(repo, "--base", "main")
    assert r.returncode == 0, r.stderr
    assert "2 entries unchanged, added: debian12-base 1.2.0" in r.stdout


def test_appending_an_older_version_fails(repo: Path) -> None:
    path = edit(repo, lambda f: f[FAMILY].append(entry("1.0.5", "e").model_dump(exclude_none=True)))
    _, result = check(path, "main")
    assert not result.ok
    assert any("1.0.5" in e for e in result.errors), result.errors


def test_reordering_fails(repo: Path) -> None:
    path = edit(repo, lambda f: f[FAMILY].reverse())
    _, result = check(path, "main")
    assert not result.ok


def test_a_fresh_clone_compares_against_origin_main(repo: Path, tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True, env=GIT_ENV, capture_output=True)
    git(clone, "checkout", "-q", "main")
    assert run_cli(clone).returncode == 0
    edit(clone, lambda f: f[FAMILY][1].update(git_commit="f" * 40))
    r = run_cli(clone)
    assert r.returncode == 1
    assert "rewrites the catalog of origin/main" in r.stderr
    assert "1.1.0: provenance correction refused" in r.stderr


def test_a_new_catalog_file_is_all_new(tmp_path: Path) -> None:
    r = tmp_path / "repo"
    r.mkdir()
    git(r, "init", "-q", "-b", "main")
    (r / "README").write_text("x\n")
    git(r, "add", "-A")
    git(r, "commit", "-q", "-m", "init")
    (r / "images").mkdir()
    save_catalog(Catalog(families={FAMILY: [entry("1.0.0")]}), r / "images/catalog.yaml")
    _, result = check(r / "images/catalog.yaml", "main")
    assert result.ok and result.added == [f"{FAMILY} 1.0.0"]


def test_missing_base_ref_is_an_error_not_a_pass(repo: Path) -> None:
    r = run_cli(repo, "--base", "no-such-branch")
    assert r.returncode == 2
    assert "does not exist" in r.stderr


def test_rules_catch_bad_file_names_and_order() -> None:
    bad = Catalog(families={FAMILY: [entry("1.1.0"), entry("1.0.0")]})
    assert any("versions must increase" in e for e in rule_errors(bad))
    renamed = entry("1.2.0").model_copy(update={"file_name": "other.tar.zst"})
    assert any(
        "expected 'debian12-base_1.2.0_amd64.tar.zst'" in e for e in rule_errors(Catalog(families={FAMILY: [renamed]}))
    )
    assert compare(Catalog(), Catalog(families={FAMILY: [entry("1.0.0")]})).ok


def test_the_repository_catalog_holds_real_monotonic_versions() -> None:
    catalog = load_catalog(REPO / "images/catalog.yaml")
    versions = catalog.versions(FAMILY)
    assert len(versions) >= 2, versions
    assert rule_errors(catalog) == []
    for build in catalog.families[FAMILY]:
        assert build.template_digest is not None
        assert build.size > 10_000_000
    assert len({b.sha256 for b in catalog.families[FAMILY]}) == len(versions)


def test_the_repository_catalog_does_not_rewrite_head() -> None:
    _, result = check(REPO / "images/catalog.yaml", "HEAD")
    assert result.ok, result.errors
