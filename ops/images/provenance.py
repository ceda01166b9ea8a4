"""Where an image build's inputs came from: the commit that holds them, and whether the tree matched.

A catalogued build names the commit its inputs came from: the last commit that touched the
family's directory (``images/<family>/``), not HEAD, so a rebuild from any later checkout with
the same image code stamps the same commit and the same build time (that commit's time). A
build from a tree whose image code differs from that commit (modified or untracked files) is
refused unless the caller marks it dev-only (``--dev``); the catalog check refuses dev-only
entries, so such a build never reaches the catalog of a branch.
"""

from __future__ import annotations

import contextlib
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ops.images.inputs import IMAGES_DIR, InputError, template_digest

DIRTY = "+dirty"
"""Suffix of the recorded commit of a dev build from a modified tree: it names no commit's inputs."""


class DirtyInputs(InputError):
    """The image code differs from every commit: nothing true could be recorded."""


@dataclass(frozen=True)
class Provenance:
    """The commit a build's inputs came from, and whether the working tree still matched it."""

    commit: str
    """The last commit that touched ``images/<family>/``."""
    epoch: int
    """That commit's time: the build's SOURCE_DATE_EPOCH unless the environment sets one."""
    changed: tuple[str, ...] = ()
    """Image files that differ from the commit (modified, added, deleted, untracked)."""

    @property
    def dirty(self) -> bool:
        return bool(self.changed)

    @property
    def recorded(self) -> str:
        """What the catalog and the stamp record: the commit, marked when the tree differed."""
        return self.commit + DIRTY if self.dirty else self.commit


def _git(repo: Path, *args: str) -> str:
    try:
        out = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True)
    except FileNotFoundError as exc:
        raise InputError("git is not installed; a build records the commit of its inputs") from exc
    except subprocess.CalledProcessError as exc:
        raise InputError(f"git {' '.join(args)}: {exc.stderr.strip() or exc}") from exc
    return out.stdout


def inputs_provenance(family: str, images_dir: Path = IMAGES_DIR) -> Provenance:
    """The commit holding ``images_dir/family`` and what in the tree differs from it."""
    family_path = (images_dir / family).resolve()
    repo = Path(_git(family_path, "rev-parse", "--show-toplevel").strip())
    rel = family_path.relative_to(repo).as_posix()
    line = _git(repo, "log", "-1", "--format=%H %ct", "--", rel).split()
    if len(line) != 2:
        raise DirtyInputs(f"{rel} has no commit yet: commit the image code, then build (or build with --dev)")
    status = _git(repo, "status", "--porcelain", "--untracked-files=all", "--", rel)
    changed = tuple(sorted(entry[3:] for entry in status.splitlines() if entry.strip()))
    return Provenance(commit=line[0], epoch=int(line[1]), changed=changed)


def template_digest_at(repo: Path, commit: str, family: str) -> str | None:
    """The template digest of ``images/<family>/`` as committed in ``commit``; None when absent there."""
    try:
        archive = subprocess.run(
            ["git", "-C", str(repo), "archive", "--format=tar", commit, f"images/{family}"],
            capture_output=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    with tempfile.TemporaryDirectory(prefix="samakia-provenance-") as tmp:
        tar_path = Path(tmp) / "inputs.tar"
        tar_path.write_bytes(archive)
        with tarfile.open(tar_path) as tar:
            tar.extractall(Path(tmp) / "tree", filter="tar")  # modes kept: the digest counts the x bit
        try:
            return template_digest(family, Path(tmp) / "tree" / "images")
        except InputError:
            return None


@contextlib.contextmanager
def worktree_at(repo: Path, commit: str, dest: Path) -> Iterator[Path]:
    """A detached ``git worktree`` of ``commit`` at ``dest`` (image code an older build came from,
    with its Git history, which provenance reads); removed afterwards, also on error."""
    add = ["git", "-C", str(repo), "worktree", "add", "--detach", str(dest), commit]
    subprocess.run(add, check=True, capture_output=True)
    try:
        yield dest
    finally:
        remove = ["git", "-C", str(repo), "worktree", "remove", "--force", str(dest)]
        subprocess.run(remove, check=False, capture_output=True)  # cleanup must not hide the caller's error
