"""The ``samakia.fabric`` collection: built by ``ansible-galaxy``, installed into a clean collections
path, and its ``site.yml`` run from there on a real Debian root (the converged root of this tier,
with one file tampered, so the run must repair exactly that file with the collection's own roles)."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any

import pytest
from conftest import Converged

import fabric
from fabric.runtime.ansible_run import ChrootTarget, run_playbook
from ops.config import rootfs
from ops.dist import collection
from ops.dist.collection import (
    CollectionError,
    build_collection,
    collection_config,
    install_collection,
    installed_playbook,
)

SSHD_TASK = (
    "samakia.fabric.ssh_hardening : Write the hardened sshd configuration (validated with sshd -t) and restrict"
    " the host keys"
)


def test_the_collection_runs_the_policy_from_a_clean_collections_path(
    converged: Converged, tmp_path: Path, policy_vars: dict[str, Any]
) -> None:
    artifact = build_collection(tmp_path / "dist")
    assert artifact.name == f"samakia-fabric-{fabric.__version__}.tar.gz"
    with tarfile.open(artifact) as tar:
        members = set(tar.getnames())
    for path in (
        "roles/ssh_hardening/tasks/main.yml",
        "playbooks/site.yml",
        "plugins/modules/files.py",
        "plugins/lookup/template.py",
    ):
        assert path in members, sorted(members)
    assert not [m for m in members if "__pycache__" in m]

    installed = install_collection(artifact, tmp_path / "collections")
    manifest = json.loads((installed / "MANIFEST.json").read_text())["collection_info"]
    assert (manifest["namespace"], manifest["name"], manifest["version"]) == ("samakia", "fabric", fabric.__version__)

    root = rootfs.copy_root(converged.root, tmp_path / "root")
    sshd = root / "etc/ssh/sshd_config"
    sshd.write_text(sshd.read_text().replace("\nPasswordAuthentication no\n", "\nPasswordAuthentication yes\n"))
    config = collection_config(tmp_path / "collections", tmp_path / "ansible.cfg")
    assert "roles_path" not in config.read_text()

    recap = run_playbook(
        ChrootTarget(root=root), installed_playbook(installed), policy_vars, config=config, timeout=600
    )

    assert recap.succeeded, f"{recap.summary()}\n{recap.stderr_tail}"
    # Every task came from the installed collection's roles, none from the checkout's playbooks/roles.
    roles = {name.split(" : ")[0] for name, _seconds in recap.task_seconds if " : " in name}
    assert roles >= {"samakia.fabric.ssh_hardening", "samakia.fabric.os_hardening", "samakia.fabric.runtime"}, roles
    assert all(role.startswith("samakia.fabric.") for role in roles), roles
    # It repaired exactly the tampered file, and the file is the policy's again.
    assert [t.describe() for t in recap.changed_tasks] == [f"{SSHD_TASK} [/etc/ssh/sshd_config]"]
    assert "\nPasswordAuthentication no\n" in sshd.read_text()


def test_the_build_refuses_a_galaxy_version_other_than_the_package(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    (source / "galaxy.yml").write_text("namespace: samakia\nname: fabric\nversion: 0.9.9\n")
    with pytest.raises(CollectionError, match=r"version 0\.9\.9 differs from the package's"):
        collection.stage(tmp_path / "staged", source=source)
    assert not (tmp_path / "staged").exists()
