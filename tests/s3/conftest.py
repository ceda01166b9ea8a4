"""The S3 tier's fixture: SeaweedFS on loopback and a small local stack whose state lives in its bucket.

SeaweedFS (``scripts/seaweedfs.sh``, cached by version) serves S3 on the lane's loopback address;
the stack is the local stack's shape moved to the lane (network ``10.83.LANE.0/24``), its
containers as API records of the local Proxmox at time scale 0 (``containers=False``: the point
is the state backend, not the containers; the engine tier runs real ones), so its config policies
are left out. Its state goes to ``s3://fabric-state?endpoint=...`` with the bucket's keys in the
environment only. The server, the local Proxmox and the stack are gone at the end, also on failure.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ops.localpve.s3_server import S3Store, seaweedfs
from ops.localpve.server import RunningPve
from ops.stack.local import local_fabric
from ops.stack.workspace import Workspace
from providers.pve_api import PveApi
from tests.e2e.conftest import make_project, stack_body
from tests.lane import loopback, port, subnet

STACK = "local-s3"  # a local stack name: the stand-in providers run it
PVE_HOST = loopback(22)
MIRROR_PORT = port(8083)  # distinct from every other tier: session fixtures of all tiers live until pytest ends
S3_HOST = loopback(21)


@dataclass
class S3Fabric:
    ws: Workspace
    pve: RunningPve
    store: S3Store
    project: Path
    api: PveApi

    def pulumi(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = self.ws.pulumi(*args, check=False, capture=True)
        if check and result.returncode != 0:
            raise AssertionError(
                f"pulumi {' '.join(args)} exited {result.returncode}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
        return result


def _body() -> dict[str, Any]:
    body = stack_body(subnet(84), PVE_HOST, MIRROR_PORT, "catalog.s3.yaml")
    config = body["config"]
    config["fabric:images"] = {"base": "debian12-base@1.0.0", "db": "debian12-base@1.0.0"}
    for spec in config["fabric:containers"].values():
        spec.pop("policy", None)
        spec.pop("mountPoints", None)  # data volumes need the container's node storage: not the point here
    return body


@pytest.fixture(scope="session")
def s3fabric(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Fabric]:
    project = make_project(tmp_path_factory, STACK, _body())
    with (
        seaweedfs(tmp_path_factory.mktemp("s3"), host=S3_HOST) as store,
        local_fabric(
            project, STACK, pve_host=PVE_HOST, mirror_port=MIRROR_PORT, containers=False, backend_env=store.env()
        ) as (ws, pve),
    ):
        api = PveApi(pve.url, str(pve.cafile), username="root@pam", password=ws.env["SAMAKIA_PVE_PASSWORD"])
        f = S3Fabric(ws=ws, pve=pve, store=store, project=project, api=api)
        try:
            yield f
        finally:
            ws.pulumi("cancel", "--yes", check=False, capture=True)
            ws.pulumi("destroy", "--yes", "--skip-preview", check=False, capture=True)
