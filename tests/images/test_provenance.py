"""Provenance: a build names the commit its inputs came from; the catalog check holds it to that."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fabric.catalog import Catalog, ImageBuild, save_catalog
from ops.images.build import ArtifactConflict, DirtyInputs, build_image
from ops.images.catalog_check import check, rule_errors
from ops.images.inputs import template_digest
from ops.images.provenance import DIRTY, inputs_provenance, template_digest_at

from .conftest import FAMILY, REPO, TEST_VERSION, Built
from .test_catalog_immutability import entry, git


@pytest.fixture
def image_repo(tmp_path: Path) -> Path:
    """A repository holding a copy of the family's image code, committed on main."""
    r = tmp_path / "repo"
    shutil.copytree(REPO / "images" / FAMILY, r / "images" / FAMILY, ignore=shutil.ignore_patterns("*.md"))
    git(r, "init", "-q", "-b", "main")
    git(r, "add", "-A")
    git(r, "commit", "-q", "-m", "image code")
    return r


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD").strip()


def test_a_clean_tree_names_the_last_commit_touching_the_image_code(image_repo: Path) -> None:
    code = head(image_repo)
    (image_repo / "README").write_text("unrelated\n")
    git(image_repo, "add", "-A")
    git(image_repo, "commit", "-q", "-m", "unrelated change")
    prov = inputs_provenance(FAMILY, image_repo / "images")
    assert (prov.commit, prov.dirty, prov.recorded) == (code, False, code)
    assert prov.epoch == int(git(image_repo, "show", "-s", "--format=%ct", code))
    assert template_digest_at(image_repo, code, FAMILY) == template_digest(FAMILY, image_repo / "images")


def test_modified_and_untracked_image_files_make_the_tree_dirty(image_repo: Path) -> None:
    (image_repo / "images" / FAMILY / "packages.txt").write_text("curl\n", encoding="utf-8")
    (image_repo / "images" / FAMILY / "scripts" / "50-new.sh").write_text("true\n")
    prov = inputs_provenance(FAMILY, image_repo / "images")
    assert prov.changed == (f"images/{FAMILY}/packages.txt", f"images/{FAMILY}/scripts/50-new.sh")
    assert prov.recorded == prov.commit + DIRTY


def test_a_build_from_uncommitted_image_code_is_refused_before_any_work(image_repo: Path, tmp_path: Path) -> None:
    (image_repo / "images" / FAMILY / "packages.txt").write_text("curl\n")
    with pytest.raises(DirtyInputs, match=r"differs from its last commit .*packages\.txt.*--dev"):
        build_image(
            FAMILY, "9.9.9", tmp_path / "c.yaml", cache_dir=tmp_path / "cache", images_dir=image_repo / "images"
        )
    assert not (tmp_path / "c.yaml").exists() and not (tmp_path / "cache").exists()


def test_a_catalogued_build_never_reuses_a_dev_artifact(built: Built, image_repo: Path, tmp_path: Path) -> None:
    # Same image code as the checkout (so the same input digest and cache entry), but committed.
    with pytest.raises(ArtifactConflict, match="cannot back a catalogued entry"):
        build_image(
            FAMILY, TEST_VERSION, tmp_path / "c.yaml", cache_dir=built.cache_dir, images_dir=image_repo / "images"
        )


def test_the_catalog_check_refuses_dev_only_entries() -> None:
    dev = entry("1.0.0").model_copy(update={"dev": True, "git_commit": "0" * 40 + DIRTY})
    assert any("dev-only entry" in e for e in rule_errors(Catalog(families={FAMILY: [dev]})))


def _catalogued(repo: Path, commit: str, digest: str) -> Path:
    """Commit a catalog on main whose entry has ``digest`` and claims ``commit``; return its path on a PR branch."""
    build = entry("1.0.0").model_copy(update={"git_commit": commit, "template_digest": digest})
    path = repo / "images" / "catalog.yaml"
    save_catalog(Catalog(families={FAMILY: [build]}), path)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "catalog")
    git(repo, "checkout", "-q", "-b", "pr")
    return path


def _claim(path: Path, commit: str) -> None:
    from fabric.catalog import load_catalog

    catalog = load_catalog(path)
    build: ImageBuild = catalog.families[FAMILY][0].model_copy(update={"git_commit": commit})
    save_catalog(Catalog(families={FAMILY: [build]}), path)


def test_a_provenance_correction_must_name_a_commit_holding_the_inputs(image_repo: Path) -> None:
    true_commit = head(image_repo)
    digest = template_digest(FAMILY, image_repo / "images")
    (image_repo / "images" / FAMILY / "packages.txt").write_text("other\n")
    git(image_repo, "commit", "-q", "-am", "other image code")
    other = head(image_repo)
    path = _catalogued(image_repo, other, digest)  # the wrong commit, as the old entries had

    _claim(path, true_commit)
    _, result = check(path, "main")
    assert result.ok, result.errors
    assert result.corrected == [f"{FAMILY} 1.0.0: {other[:12]} -> {true_commit[:12]}"]

    _claim(path, "f" * 40)  # a commit that does not exist
    _, result = check(path, "main")
    assert any("provenance correction refused" in e for e in result.errors), result.errors

    path.write_text(path.read_text().replace("size: 58000000", "size: 1"))  # identity: never
    _claim(path, true_commit)
    _, result = check(path, "main")
    assert any("was changed" in e and "size" in e for e in result.errors), result.errors


def test_a_true_commit_is_not_rewritten_to_another_true_one(image_repo: Path) -> None:
    first = head(image_repo)
    digest = template_digest(FAMILY, image_repo / "images")
    (image_repo / "README").write_text("x\n")
    git(image_repo, "add", "-A")
    git(image_repo, "commit", "-q", "-m", "unrelated")
    path = _catalogued(image_repo, first, digest)
    _claim(path, head(image_repo))  # holds the same image code, but the entry was already true
    _, result = check(path, "main")
    assert any("already holds the entry's inputs" in e for e in result.errors), result.errors


def test_the_repository_catalog_names_commits_holding_each_entrys_inputs() -> None:
    from fabric.catalog import load_catalog

    for build in load_catalog(REPO / "images" / "catalog.yaml").families[FAMILY]:
        assert not build.dev
        assert template_digest_at(REPO, build.git_commit, FAMILY) == build.template_digest, build.version
