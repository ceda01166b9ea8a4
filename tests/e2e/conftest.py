"""The engine tier's fixture: a copy of the project running the real Pulumi engine against the local PVE.

The project is laid out in a temporary directory (links to the code, its own stack file,
state and catalog), so the tier never touches the checkout's own local fabric: its containers,
bridge and LXC path carry their own prefix (with the test lane in it), and its network is
10.78.LANE.0/24 (``make up`` uses 10.77.0.0/24), so it runs beside the checkout's own fabric and
other lanes. The fake runs in this process, so tests can
inject faults into it while the engine talks to it. The containers are real LXC containers;
everything is torn down at the end of the session, also when a test fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from ops.localpve.server import RunningPve
from ops.localpve.services import ensure_local_images
from ops.stack.local import local_fabric
from ops.stack.workspace import Workspace
from providers.pve_api import PveApi
from tests.lane import loopback, lxc_tag, port, subnet

ROOT = Path(__file__).resolve().parents[2]
STACK = "e2e"
PVE_HOST = loopback(3)
MIRROR_PORT = port(8098)
LINKED = ("fabric", "ops", "playbooks", "policy", "__main__.py", "Pulumi.yaml", ".venv")


@dataclass
class LocalFabric:
    """The running local fabric and everything the tests read back through."""

    ws: Workspace
    pve: RunningPve
    api: PveApi
    project: Path
    logs: list[str] = field(default_factory=list)

    def pulumi(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = self.ws.pulumi(*args, check=False, capture=True)
        self.logs.append(result.stdout + result.stderr)
        if check and result.returncode != 0:
            raise AssertionError(
                f"pulumi {' '.join(args)} exited {result.returncode}:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
            )
        return result

    def preview_json(self, *args: str) -> dict[str, Any]:
        result = self.pulumi("preview", "--json", *args, check=False)
        assert result.stdout.strip(), result.stderr[-3000:]
        return dict(json.loads(result.stdout))

    def set_config(self, path: str, value: str) -> None:
        self.pulumi("config", "set", "--path", f"fabric:{path}", value)

    def attach(self, vmid: int, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a command inside a container with ``lxc-attach`` (behind the API's back)."""
        lxc = self.pve.pve.lxc
        assert lxc is not None
        return subprocess.run(
            lxc.command("lxc-attach", vmid, "--", *cmd),
            capture_output=True,
            text=True,
            timeout=60,
            check=check,
        )

    def lxc(self, *cmd: str, vmid: int) -> None:
        """An ``lxc-*`` command on a container, as an operator on the node would run it."""
        lxc = self.pve.pve.lxc
        assert lxc is not None
        subprocess.run(lxc.command(cmd[0], vmid, *cmd[1:]), check=True, timeout=120)

    def cgroup(self, vmid: int, key: str) -> str:
        """A cgroup setting of a running container, read on the host (``lxc-cgroup``)."""
        lxc = self.pve.pve.lxc
        assert lxc is not None
        cmd = lxc.command("lxc-cgroup", vmid, key)
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=True).stdout.strip()

    def image_of(self, vmid: int) -> str:
        """``family@version`` from the image stamp inside the running container."""
        stamp = dict(
            line.split("=", 1)
            for line in self.attach(vmid, "cat", "/etc/samakia-image").stdout.splitlines()
            if "=" in line
        )
        return f"{stamp['FAMILY']}@{stamp['VERSION']}"


SUBNET = subnet(78)


def stack_body(net: str, pve_host: str, mirror_port: int, catalog: str) -> dict[str, Any]:
    """``Pulumi.local.yaml`` moved to the network ``net`` (``10.X.LANE.``), a test's API host and mirror."""
    body = yaml.safe_load((ROOT / "Pulumi.local.yaml").read_text().replace("10.77.0.", net))
    config = body["config"]
    config["fabric:proxmox"]["endpoint"] = f"https://{pve_host}:8006/"
    config["fabric:imageMirror"] = f"http://127.0.0.1:{mirror_port}"
    config["fabric:imageCatalog"] = catalog
    return dict(body)


def _e2e_body() -> dict[str, Any]:
    body = stack_body(SUBNET, PVE_HOST, MIRROR_PORT, "catalog.e2e.yaml")
    containers = body["config"]["fabric:containers"]
    # HA on a rolling member and on the database, so the lifecycle proves a replaced container is
    # under HA again (dns-2 stays out: the drift tests delete it behind the API's back, which PVE
    # refuses for an HA resource).
    containers["dns-1"]["ha"] = {"state": "started", "group": "ha-dns"}
    containers["db-1"]["ha"] = {"state": "started", "group": "ha-db", "maxRestart": 2}
    # The lifecycle bumps 1.0.0 to 1.1.0 and rolls back; both are local builds of this checkout's
    # image code (ops.localpve.services.local_build), whatever version Pulumi.local.yaml runs.
    body["config"]["fabric:images"] = {"base": "debian12-base@1.0.0", "db": "debian12-base@1.0.0"}
    return body


def make_project(tmp_path_factory: pytest.TempPathFactory, stack: str, body: dict[str, Any]) -> Path:
    """A copy of the project (links to the code) with its own stack file and the images it uses."""
    if shutil.which("pulumi") is None:
        pytest.fail("the pulumi engine is not on PATH: run `make engine` (make test-e2e does)")
    project = tmp_path_factory.mktemp(f"{stack}-project")
    for name in LINKED:
        (project / name).symlink_to(ROOT / name)
    (project / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(body, sort_keys=False))
    ensure_local_images(project, stack, project / ".state" / "mirror", extra=[("debian12-base", "1.1.0")])
    return project


def root_api(ws: Workspace, pve: RunningPve) -> PveApi:
    """root@pam on a running local PVE, with the password the local fabric generated for it."""
    return PveApi(pve.url, str(pve.cafile), username="root@pam", password=ws.env["SAMAKIA_PVE_PASSWORD"])


F = TypeVar("F", bound=LocalFabric)


@contextlib.contextmanager
def lane_fabric(kind: type[F], project: Path, *, stack: str, pve_host: str, mirror_port: int, tag: str) -> Iterator[F]:
    """A test tier's own local fabric (its lane's address, port and LXC tag), torn down at the end."""
    with local_fabric(
        project, stack, pve_host=pve_host, mirror_port=mirror_port, teardown=True, lxc_tag=lxc_tag(tag)
    ) as (ws, pve):
        yield kind(ws=ws, pve=pve, api=root_api(ws, pve), project=project)


@pytest.fixture(scope="session")
def fabric(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFabric]:
    project = make_project(tmp_path_factory, STACK, _e2e_body())
    with lane_fabric(LocalFabric, project, stack=STACK, pve_host=PVE_HOST, mirror_port=MIRROR_PORT, tag="e") as f:
        yield f


RECORD_VAR = "SAMAKIA_RECORD_FIXTURES"
FIXTURES = ROOT / "tests" / "unit" / "fixtures"
SHAPE_KEYS = ("fabric:containerDefaults", "fabric:containers", "fabric:groups")


def record_preview(f: LocalFabric, name: str, drop: tuple[str, ...] = ()) -> None:
    """With ``SAMAKIA_RECORD_FIXTURES=1`` (``make record-fixtures``), write the live preview of the current
    config, minus the containers in ``drop``, as a plan directory under ``tests/unit/fixtures/<name>``:
    ``preview.json`` (``pulumi preview --json``, machine paths replaced), ``meta.json`` and the stack
    file's shape (containers and groups), which the PR-comment tests render. Otherwise does nothing.
    """
    if os.environ.get(RECORD_VAR) != "1":
        return
    assert f.ws.config_file is not None
    body = yaml.safe_load(f.ws.config_file.read_text())
    for container in drop:
        del body["config"]["fabric:containers"][container]
    scratch = f.ws.config_file.with_name(f"record-{name}.yaml")
    scratch.write_text(yaml.safe_dump(body, sort_keys=False))
    result = replace(f.ws, config_file=scratch).pulumi("preview", "--json", check=False, capture=True)
    text = result.stdout.replace(str(f.project), "<project>").replace(str(f.project.parent), "<tmp>")
    text = text.replace(str(ROOT), "<repo>")
    for machine in {tempfile.gettempdir(), str(Path.home()), str(ROOT.parent)}:  # scratch, home, checkouts
        text = re.sub(re.escape(machine) + r'/[^"\s]*', "<machine-path>", text)
    for secret in read_secret_values(f.project):
        assert secret not in text, "a credential of the local fabric is in the preview JSON"
    preview = json.loads(text)
    assert preview.get("steps"), result.stderr[-3000:]
    out = FIXTURES / name
    out.mkdir(parents=True, exist_ok=True)
    (out / "preview.json").write_text(json.dumps(preview, indent=1, sort_keys=True) + "\n")
    shape = {"config": {k: v for k, v in body["config"].items() if k in SHAPE_KEYS}}
    (out / "stack-shape.yaml").write_text(
        "# Recorded by `make record-fixtures` (tests/e2e/conftest.py record_preview): the stack's shape only.\n"
        + yaml.safe_dump(shape, sort_keys=False)
    )
    meta = {"stack": STACK, "tree": "recorded-from-the-engine-tier", "commit": "recorded"}
    (out / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")


def read_secret_values(project: Path) -> list[str]:
    state = project / ".state"
    return [
        (state / "pve" / "password").read_text().strip(),
        (state / "passphrase").read_text().strip(),
        "".join((state / "ssh" / "id_ed25519").read_text().splitlines()[1:-1]),
    ]


os.environ.setdefault("PULUMI_SKIP_UPDATE_CHECK", "true")
