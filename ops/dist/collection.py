"""The ``samakia.fabric`` Ansible collection: the policy's roles, ``site.yml`` and the batched modules.

In the repository the roles stay beside the playbook (``playbooks/roles``) and the plugins in
``playbooks/collections/ansible_collections/samakia/fabric``, where ``site.yml`` finds them. The
collection is assembled from both in a staging directory (plugins, ``roles/``,
``playbooks/site.yml``) and built by ``ansible-galaxy collection build``, so it holds exactly the
files the repository's own runs use. Its version is the package's: the build refuses a
``galaxy.yml`` whose version differs from ``fabric.__version__``.
"""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from fabric import __version__
from fabric.paths import PLAYBOOKS_DIR

SOURCE = PLAYBOOKS_DIR / "collections" / "ansible_collections" / "samakia" / "fabric"
"""The collection's own files (galaxy.yml, README, CHANGELOG, meta, plugins)."""
NAME = "samakia.fabric"
PLAYBOOK = "site"
"""Run from an installed collection as ``ansible-playbook samakia.fabric.site``."""

_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc")


class CollectionError(RuntimeError):
    """The collection cannot be built as it stands (its galaxy.yml disagrees with the package)."""


def galaxy_version(source: Path = SOURCE) -> str:
    """The version ``galaxy.yml`` declares."""
    return str(yaml.safe_load((source / "galaxy.yml").read_text())["version"])


def stage(dest: Path, source: Path = SOURCE, playbooks: Path = PLAYBOOKS_DIR) -> Path:
    """Lay the collection out in ``dest`` (plugins and metadata, ``roles/``, ``playbooks/site.yml``)."""
    version = galaxy_version(source)
    if version != __version__:
        raise CollectionError(
            f"{source / 'galaxy.yml'}: version {version} differs from the package's {__version__} "
            "(fabric/__init__.py): the collection is released with the package, bump both together"
        )
    shutil.copytree(source, dest, ignore=_IGNORE)
    shutil.copytree(playbooks / "roles", dest / "roles", ignore=_IGNORE)
    (dest / "playbooks").mkdir()
    shutil.copy2(playbooks / f"{PLAYBOOK}.yml", dest / "playbooks" / f"{PLAYBOOK}.yml")
    return dest


def galaxy_bin(name: str = "ansible-galaxy") -> str:
    """An Ansible command next to this interpreter (the venv's), else the one on PATH."""
    local = Path(sys.executable).parent / name
    found = str(local) if local.exists() else shutil.which(name)
    if found is None:
        raise CollectionError(f"{name} not found; run scripts/setup.sh")
    return found


def build_collection(out_dir: Path) -> Path:
    """Build ``samakia-fabric-<version>.tar.gz`` into ``out_dir``; return its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="samakia-collection-") as tmp:
        staged = stage(Path(tmp) / "fabric")
        subprocess.run(
            [galaxy_bin(), "collection", "build", "--force", "--output-path", str(out_dir), str(staged)],
            check=True,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
        )
    artifact = out_dir / f"samakia-fabric-{__version__}.tar.gz"
    if not artifact.is_file():
        raise CollectionError(f"ansible-galaxy left no {artifact.name} in {out_dir}")
    return artifact


def install_collection(artifact: Path, collections_path: Path) -> Path:
    """Install a built collection into ``collections_path`` (offline: its dependencies are the
    caller's, as the venv's ansible package provides them); return the installed collection's directory."""
    subprocess.run(
        [galaxy_bin(), "collection", "install", "--no-deps", "--force", "-p", str(collections_path), str(artifact)],
        check=True,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
    )
    return collections_path / "ansible_collections" / "samakia" / "fabric"


def collection_config(collections_path: Path, dest: Path, base: Path = PLAYBOOKS_DIR / "ansible.cfg") -> Path:
    """An ``ansible.cfg`` for running the installed collection: the policy's own settings, its
    collections from ``collections_path`` only and no ``roles_path`` (the roles are the collection's)."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(base)
    parser.remove_option("defaults", "roles_path")
    parser.set("defaults", "collections_path", str(collections_path))
    with dest.open("w") as fh:
        parser.write(fh)
    return dest


def installed_playbook(collection_dir: Path) -> Path:
    """The installed collection's ``site.yml`` (what ``ansible-playbook samakia.fabric.site`` runs)."""
    return collection_dir / "playbooks" / f"{PLAYBOOK}.yml"
