"""Data volumes against the local Proxmox: the apply-time runner, and PVE's destroy rule.

No engine: the runner (``python3 -m fabric.runtime.volume``, as ``DataVolume`` runs it) talks to
the local PVE over HTTPS, and containers are created and destroyed through the API.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ops.localpve.server import RunningPve
from providers.pve_api import PveApi
from tests.lane import loopback

ROOT = Path(__file__).resolve().parents[2]
HOST = loopback(6)


@pytest.fixture(scope="module")
def pve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningPve, PveApi]]:
    running = RunningPve(tmp_path_factory.mktemp("volumes") / "pve", "pw-volumes", host=HOST).start()
    try:
        yield running, PveApi(running.url, str(running.cafile), username="root@pam", password="pw-volumes")
    finally:
        running.stop(save=False)


def runner(pve: RunningPve, action: str, **request: object) -> subprocess.CompletedProcess[str]:
    body = {"endpoint": pve.url, "username": "root@pam", "passwordEnv": "TEST_PVE_PASSWORD", **request}
    env = {**os.environ, "TEST_PVE_PASSWORD": "pw-volumes", "SSL_CERT_FILE": str(pve.cafile)}
    return subprocess.run(
        [sys.executable, "-m", "fabric.runtime.volume", action],
        input=json.dumps(body),
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
        timeout=60,
    )


def create_ct(api: PveApi, vmid: int, mp0: str) -> None:
    upid = api.post("/nodes/pve1/lxc", vmid=vmid, ostemplate="local:vztmpl/t.tar.zst", rootfs="local-lvm:4", mp0=mp0)
    api.wait("pve1", upid)


def destroy_ct(api: PveApi, vmid: int) -> None:
    api.wait("pve1", api.delete(f"/nodes/pve1/lxc/{vmid}"))


VOLUME = {"node": "pve1", "storage": "local-data", "owner": 9000, "container": "db-1", "name": "pgdata", "sizeGb": 2}


def test_a_data_volume_outlives_every_container_that_mounts_it(pve: tuple[RunningPve, PveApi]) -> None:
    running, api = pve
    made = runner(running, "create", **VOLUME)
    assert made.returncode == 0, made.stderr
    volid = made.stdout.strip()
    assert volid == "local-data:9000/subvol-9000-db-1-pgdata.subvol"
    assert runner(running, "create", **VOLUME).stdout.strip() == volid, "a re-run finds the volume"
    data = running.pve.volume_dir(volid)
    (data / "row").write_text("kept")
    # Two generations of the container mount it; each destroy keeps it (the owner is 9000).
    for _ in range(2):
        create_ct(api, 1201, f"{volid},mp=/var/lib/postgresql,backup=1")
        assert running.pve.mounts(1201) == {"/var/lib/postgresql": data}
        destroy_ct(api, 1201)
        assert [v["volid"] for v in api.get("/nodes/pve1/storage/local-data/content", vmid=9000)] == [volid]
        assert (data / "row").read_text() == "kept"
    # Only the runner's delete (the volume removed from code) frees it.
    gone = runner(running, "delete", **VOLUME)
    assert gone.returncode == 0, gone.stderr
    assert api.get("/nodes/pve1/storage/local-data/content", vmid=9000) == []
    assert not data.exists()
    assert runner(running, "delete", **VOLUME).returncode == 0, "deleting a missing volume is fine"


def test_a_volume_the_container_owns_goes_with_it(pve: tuple[RunningPve, PveApi]) -> None:
    running, api = pve
    create_ct(api, 1300, "local-data:2,mp=/srv")  # PVE allocates it for (and owned by) 1300
    owned = running.pve.mounts(1300)["/srv"]
    assert owned.is_dir()
    assert [v["vmid"] for v in api.get("/nodes/pve1/storage/local-data/content", vmid=1300)] == [1300]
    destroy_ct(api, 1300)
    assert api.get("/nodes/pve1/storage/local-data/content", vmid=1300) == []
    assert not owned.exists()


def test_the_runner_refuses_block_storage_and_names_it(pve: tuple[RunningPve, PveApi]) -> None:
    running, _ = pve
    refused = runner(running, "create", **{**VOLUME, "storage": "local-lvm"})
    assert refused.returncode == 1
    assert "storage 'local-lvm' is of type 'lvmthin'" in refused.stderr and "mountPoints[].datastore" in refused.stderr
    missing = runner(running, "create", **VOLUME, passwordEnv="NOT_SET_ANYWHERE")
    assert missing.returncode == 1 and "no Proxmox credential" in missing.stderr
    assert "pw-volumes" not in missing.stderr + refused.stderr
