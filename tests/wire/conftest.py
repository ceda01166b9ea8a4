"""The wire tier's one local Proxmox session: bpg's own main (OpenTofu) and bpg bridged (Pulumi).

One local Proxmox on real LXC serves the whole tier (lane-aware: its own loopback address,
mirror port, network and LXC names). The templates are the local image cache's builds of
debian12-base 1.0.0 and 1.1.0 (``ops.localpve.services.local_build``, shared with the engine
tier). The upstream run goes first, then the bridged one's; each is a session fixture, so the test
modules read the same records. Everything is torn down at the end, also on failure.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from ops.localpve.server import RunningPve
from ops.localpve.services import local_build, local_services, ssh_key
from ops.localpve.volumes import DATA_STORAGE
from ops.stack.workspace import Workspace
from providers.pve_api import PveApi
from tests.lane import loopback, lxc_tag, port, subnet
from tests.wire.drive import PulumiSide, Run, TofuSide, record, run_scenario
from tests.wire.scenario import NODE, POOL, VOLUME_OWNER, Site, Template
from tests.wire.tofu import Tofu

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = Path(__file__).resolve().parent / "program"
STACK = "e2e-wire"  # a local stack name: the command stand-in refuses any other
PVE_HOST = loopback(19)
MIRROR_PORT = port(8084)  # distinct from every other tier: session fixtures of all tiers live until pytest ends
NET = subnet(89)
IMAGES = {"t1": ("debian12-base", "1.0.0"), "t2": ("debian12-base", "1.1.0")}


@dataclass
class Wire:
    running: RunningPve
    api: PveApi
    site: Site
    env: dict[str, str]
    project: Path
    logs: Path


def wire_bin() -> Path:
    """The bin dir of OpenTofu and bpg's provider (``scripts/wire.sh``: built once, cached by version)."""
    result = subprocess.run(
        [str(ROOT / "scripts" / "wire.sh")], capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False
    )
    if result.returncode != 0:
        pytest.fail(f"scripts/wire.sh failed (it builds OpenTofu and the bpg provider):\n{result.stderr[-3000:]}")
    return Path(result.stdout.strip())


def _project(tmp: Path) -> Path:
    """The Pulumi program's directory, with a stack file naming the network the local Proxmox bridges."""
    project = tmp / "project"
    project.mkdir()
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(PROGRAM / name, project / name)
    (project / ".venv").symlink_to(ROOT / ".venv")
    network = {"cidr": f"{NET}0/24", "gateway": f"{NET}1", "bridge": "vmbr0"}
    (project / f"Pulumi.{STACK}.yaml").write_text(yaml.safe_dump({"config": {"fabric:networks": {"lan": network}}}))
    return project


def _templates(project: Path, mirror_url: str) -> dict[str, Template]:
    """The local image cache's builds, linked into the mirror, with the sha256 of their bytes."""
    out = {}
    for key, (family, version) in IMAGES.items():
        artifact = local_build(family, version, project / "catalog.wire.yaml")
        link = project / ".state" / "mirror" / family / artifact.name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.unlink(missing_ok=True)
        link.symlink_to(artifact)
        digest = hashlib.sha256(artifact.read_bytes()).hexdigest()
        out[key] = Template(artifact.name, f"{mirror_url}/{family}/{artifact.name}", digest)
    return out


@pytest.fixture(scope="session")
def wire(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Wire]:
    if shutil.which("pulumi") is None:
        pytest.fail("the pulumi engine is not on PATH: run `make engine` (make test-wire does)")
    tmp = tmp_path_factory.mktemp("wire")
    project = _project(tmp)
    templates = _templates(project, f"http://127.0.0.1:{MIRROR_PORT}")
    state = project / ".state"
    with local_services(project, state, PVE_HOST, MIRROR_PORT, stack=STACK, teardown=True, lxc_tag=lxc_tag("w")) as (
        env,
        running,
    ):
        api = PveApi(running.url, str(running.cafile), username="root@pam", password=env["SAMAKIA_PVE_PASSWORD"])
        api.post("/pools", poolid=POOL)
        volume = api.post(
            f"/nodes/{NODE}/storage/{DATA_STORAGE}/content",
            vmid=VOLUME_OWNER,
            filename=f"subvol-{VOLUME_OWNER}-wire-data",
            size="0",
            format="subvol",
        )
        _, public = ssh_key(state)
        site = Site(
            endpoint=running.url + "/",
            templates=templates,
            address=f"{NET}10/24",
            gateway=f"{NET}1",
            ssh_key=public,
            volume=str(volume),
        )
        yield Wire(running, api, site, env, project, tmp)


@pytest.fixture(scope="session")
def upstream(wire: Wire) -> Run:
    """The scenario through OpenTofu and bpg's provider, recorded step by step."""
    tofu = Tofu(wire_bin(), wire.logs / "tofu", dict(wire.env))
    try:
        run = run_scenario(TofuSide(tofu, wire.site), wire.running, wire.env, wire.api)
    finally:
        (wire.logs / "tofu.log").write_text("\n".join(tofu.logs))
    record(run, wire.logs / "upstream.json")
    return run


@pytest.fixture(scope="session")
def bridged(wire: Wire, upstream: Run) -> Run:
    """The same scenario through Pulumi and the bridged plugin, after the upstream run (same local Proxmox)."""
    return bridged_run(wire)


def bridged_run(wire: Wire) -> Run:
    # The session's own file backend, whatever the caller's environment names.
    env = {**wire.env, "PULUMI_BACKEND_URL": f"file://{wire.project / '.state' / 'pulumi'}"}
    ws = Workspace(wire.project, STACK, env)
    ws.ensure_stack()
    side = PulumiSide(ws, wire.site)
    try:
        run = run_scenario(side, wire.running, wire.env, wire.api)
    finally:
        (wire.logs / "pulumi.log").write_text("\n".join(side.logs))
    record(run, wire.logs / "bridged.json")
    return run
