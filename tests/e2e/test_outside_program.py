"""A program outside the repository (``examples/outside``) on the installed wheel, on the real engine.

The project is laid out in a temporary directory with nothing of the checkout in it: its own
``Pulumi.yaml``, program and requirements, and the clean virtualenv the wheel was installed in
(``venv``, as its ``Pulumi.yaml`` names it). The local PVE, its mirror and bridge come from the same
fixture machinery as the rest of the tier (``ops.stack.local.local_fabric``), on this file's own
lane-aware addresses, and are torn down at the end, also on failure. The policy's runner is the
installed package's: the venv's ``bin`` leads ``PATH``, as an activated venv would.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from fabric.runtime.ssh_hosts import ssh_options
from fabric.tokens import COMMAND, CONFIG_POLICY, CONTAINER, FILE, IMAGE, LXC_CONTAINER
from ops.localpve.services import SSH_KEY_ENV, ensure_local_images, ssh_key
from ops.stack.local import local_fabric
from ops.stack.workspace import Workspace
from tests.conftest import InstalledWheel
from tests.lane import loopback, lxc_tag, port, subnet

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "outside"
PROJECT = "team-cache"
STACK = "e2e-outside"
PVE_HOST = loopback(27)  # no other tier binds .27
MIRROR_PORT = port(8023)
NET = subnet(23)
ADDRESS = f"{NET}11"
IMAGE_REF = "debian12-base@1.2.0"  # the local stack's version: it carries the policy's packages


def stack_body(public_key: str) -> dict[str, Any]:
    """The team's stack config, plus the ``fabric:`` keys the local PVE reads to build its bridge and images."""
    mirror = f"http://{NET}1:3142"
    return {
        "config": {
            # For the local fabric's services only (ops.localpve.services): the bridge, the images to build.
            "fabric:networks": {"lan": {"cidr": f"{NET}0/24", "gateway": f"{NET}1", "bridge": "vmbr0"}},
            "fabric:images": {"base": IMAGE_REF},
            "fabric:imageCatalog": "catalog.outside.yaml",
            # The program's own config.
            f"{PROJECT}:endpoint": f"https://{PVE_HOST}:8006/",
            f"{PROJECT}:username": "root@pam",
            f"{PROJECT}:node": "pve1",
            f"{PROJECT}:mirror": f"http://127.0.0.1:{MIRROR_PORT}",
            f"{PROJECT}:image": IMAGE_REF,
            f"{PROJECT}:catalog": "catalog.outside.yaml",
            f"{PROJECT}:vmid": 2301,
            f"{PROJECT}:address": f"{ADDRESS}/24",
            f"{PROJECT}:gateway": f"{NET}1",
            f"{PROJECT}:sshKeys": [public_key],
            f"{PROJECT}:keyEnv": SSH_KEY_ENV,
            f"{PROJECT}:policyVars": {
                "baseline_apt_mirror": f"{mirror}/debian",
                "baseline_apt_security_mirror": f"{mirror}/debian-security",
            },
        }
    }


@dataclass
class Outside:
    """The outside project and the workspace its stack runs in."""

    project: Path
    ws: Workspace
    venv: Path

    def pulumi(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = self.ws.pulumi(*args, check=False, capture=True)
        assert result.returncode == 0, f"pulumi {args[0]}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        return result


@pytest.fixture(scope="module")
def outside(tmp_path_factory: pytest.TempPathFactory, installed_wheel: InstalledWheel) -> Iterator[Outside]:
    if shutil.which("pulumi") is None:
        pytest.fail("the pulumi engine is not on PATH: run `make engine` (make test-e2e does)")
    project = tmp_path_factory.mktemp("outside-program")
    for name in ("Pulumi.yaml", "__main__.py", "requirements.txt"):
        shutil.copy(EXAMPLE / name, project / name)
    (project / "venv").symlink_to(installed_wheel.venv)
    state = project / ".state"
    _, public = ssh_key(state)
    (project / f"Pulumi.{STACK}.yaml").write_text(yaml.safe_dump(stack_body(public), sort_keys=False))
    ensure_local_images(project, STACK, state / "mirror")
    with local_fabric(
        project, STACK, pve_host=PVE_HOST, mirror_port=MIRROR_PORT, teardown=True, lxc_tag=lxc_tag("o")
    ) as (ws, _pve):
        ws.env["PATH"] = f"{installed_wheel.venv / 'bin'}:{ws.env['PATH']}"
        yield Outside(project=project, ws=ws, venv=installed_wheel.venv)


def test_the_outside_program_previews_ups_and_answers_over_ssh(outside: Outside) -> None:
    # Nothing of the checkout is importable in the project: `fabric` is the installed wheel's.
    where = subprocess.run(
        [str(outside.venv / "bin" / "python"), "-c", "import fabric; print(fabric.__file__)"],
        cwd=outside.project,
        capture_output=True,
        text=True,
        check=True,
        stdin=subprocess.DEVNULL,
    ).stdout.strip()
    assert where.startswith(str(outside.venv)) and not where.startswith(str(ROOT)), where

    preview = json.loads(outside.pulumi("preview", "--json").stdout)
    planned = sorted(step["newState"]["type"] for step in preview["steps"] if step["op"] == "create")
    assert sorted(set(planned)) == sorted(
        {
            "pulumi:pulumi:Stack",
            "pulumi:providers:proxmoxve",
            IMAGE,
            FILE,
            LXC_CONTAINER,
            CONTAINER,
            CONFIG_POLICY,
            COMMAND,
        }
    ), planned
    assert planned.count(COMMAND) == 2  # the policy's runner and the team's own login command

    outside.pulumi("up", "--yes", "--skip-preview")
    outputs = outside.ws.outputs()
    # The team's own resource logged in over SSH as the admin user the policy created.
    assert outputs["hostname"].strip() == "cache-1"
    assert outputs["recap"].startswith("cache-1: ok=") and "failed=0" in outputs["recap"]
    assert outputs["image"].startswith(f"{IMAGE_REF}#sha256:")

    # And it answers the test too, with the host key the installed runner pinned.
    key = outside.ws.env[SSH_KEY_ENV]
    login = subprocess.run(
        [
            "ssh",
            "-i",
            key,
            *ssh_options(outside.project / ".state/known_hosts/cache-1"),
            "-o",
            "ConnectTimeout=10",
            f"samakia@{ADDRESS}",
            "id -un; hostname",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert login.returncode == 0, login.stderr
    assert login.stdout.split() == ["samakia", "cache-1"]

    # A second preview of the unchanged program plans nothing.
    again = json.loads(outside.pulumi("preview", "--json").stdout)
    assert {s["op"] for s in again["steps"]} <= {"same"}, [(s["op"], s["urn"]) for s in again["steps"]]

    outside.pulumi("destroy", "--yes", "--skip-preview")
    assert outside.ws.outputs() == {}
