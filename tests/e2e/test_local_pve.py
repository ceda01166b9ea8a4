"""The local Proxmox verifies template downloads as a node does, keeps each node's templates apart,
and keeps its state across runs."""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path

import pytest
import yaml

from ops.localpve.lxc import LxcNode
from ops.localpve.server import RunningPve
from ops.localpve.services import ensure_local_images, serve_directory
from ops.stack.local import local_fabric
from providers.pve_api import PveApi, PveApiError
from tests.e2e.conftest import root_api
from tests.lane import loopback, lxc_tag, port, subnet


def test_download_is_fetched_verified_and_persisted(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror" / "fam"
    mirror.mkdir(parents=True)
    payload = b"not really a template, but real bytes" * 1000
    (mirror / "t_1.0.0_amd64.tar.zst").write_bytes(payload)
    good = hashlib.sha256(payload).hexdigest()
    with serve_directory(tmp_path / "mirror", "127.0.0.1", port(8096)) as url:
        pve = RunningPve(tmp_path / "pve", "pw-test", host=loopback(5)).start()
        try:
            api = PveApi(pve.url, str(pve.cafile), username="root@pam", password="pw-test")

            def download(name: str, checksum: str, node: str = "pve1") -> None:
                upid = api.post(
                    f"/nodes/{node}/storage/local/download-url",
                    url=f"{url}/fam/t_1.0.0_amd64.tar.zst",
                    filename=name,
                    content="vztmpl",
                    checksum=checksum,
                    **{"checksum-algorithm": "sha256"},
                )
                api.wait(node, upid)

            def listed(node: str) -> dict[str, int]:
                return {c["volid"]: c["size"] for c in api.get(f"/nodes/{node}/storage/local/content")}

            with pytest.raises(PveApiError, match="checksum mismatch"):
                download("bad.tar.zst", "0" * 64)
            download("good.tar.zst", good)
            assert listed("pve1") == {"local:vztmpl/good.tar.zst": len(payload)}
            assert pve.pve.template_path("pve1", "good.tar.zst").read_bytes() == payload
            assert not pve.pve.template_path("pve1", "bad.tar.zst").exists()
            # `local` is a directory on each node: pve2 has nothing until it downloads its own copy,
            # and deleting pve2's copy leaves pve1's in place.
            assert listed("pve2") == {}
            download("good.tar.zst", good, node="pve2")
            api.wait("pve2", api.delete("/nodes/pve2/storage/local/content/local:vztmpl/good.tar.zst"))
            assert listed("pve2") == {} and not pve.pve.template_path("pve2", "good.tar.zst").exists()
            assert listed("pve1") == {"local:vztmpl/good.tar.zst": len(payload)}
            assert pve.pve.template_path("pve1", "good.tar.zst").read_bytes() == payload
        finally:
            pve.stop()
        again = RunningPve(tmp_path / "pve", "pw-test", host=loopback(5)).start()
        try:
            api = PveApi(again.url, str(again.cafile), username="root@pam", password="pw-test")
            assert [c["volid"] for c in api.get("/nodes/pve1/storage/local/content")] == ["local:vztmpl/good.tar.zst"]
            assert api.get("/nodes/pve2/storage/local/content") == []
        finally:
            again.stop()


def test_a_failed_run_leaves_nothing_running(tmp_path: Path) -> None:
    """A local fabric whose run fails tears down its containers, bridge and servers."""
    root = Path(__file__).resolve().parents[2]
    project = tmp_path / "project"
    project.mkdir()
    for name in ("fabric", "ops", "playbooks", "__main__.py", "Pulumi.yaml", ".venv"):
        (project / name).symlink_to(root / name)
    net, host, mirror_port, tag = subnet(79), loopback(9), port(8091), lxc_tag("c")
    body = yaml.safe_load((root / "Pulumi.local.yaml").read_text().replace("10.77.0.", net))
    body["config"]["fabric:imageMirror"] = f"http://127.0.0.1:{mirror_port}"
    body["config"]["fabric:imageCatalog"] = "catalog.cleanup.yaml"
    (project / "Pulumi.cleanup.yaml").write_text(yaml.safe_dump(body))
    ensure_local_images(project, "cleanup", project / ".state" / "mirror")
    artifact = next((project / ".state" / "mirror" / "debian12-base").iterdir())
    sha = hashlib.sha256(artifact.read_bytes()).hexdigest()

    class Boom(Exception):
        pass

    fabric = local_fabric(project, "cleanup", pve_host=host, mirror_port=mirror_port, teardown=True, lxc_tag=tag)
    with pytest.raises(Boom), fabric as (ws, pve):
        api = root_api(ws, pve)
        upid = api.post(
            "/nodes/pve1/storage/local/download-url",
            url=f"http://127.0.0.1:{mirror_port}/debian12-base/{artifact.name}",
            filename=artifact.name,
            content="vztmpl",
            checksum=sha,
            **{"checksum-algorithm": "sha256"},
        )
        api.wait("pve1", upid)
        api.wait(
            "pve1",
            api.post(
                "/nodes/pve1/lxc",
                vmid=990,
                ostemplate=f"local:vztmpl/{artifact.name}",
                hostname="doomed",
                net0=f"name=eth0,bridge=vmbr0,ip={net}90/24,gw={net}1",
                rootfs="local-lvm:2",
            ),
        )
        api.wait("pve1", api.post("/nodes/pve1/lxc/990/status/start"))
        lxc = pve.pve.lxc
        assert lxc is not None and lxc.states() == {990: "RUNNING"}
        assert lxc.bridges()
        raise Boom("the run fails half-way")
    node = LxcNode(project / ".state" / "pve", tag=tag)
    assert node.states() == {}
    assert node.bridges() == []
    assert not node.lxcpath.exists()
    for address in ((host, 8006), ("127.0.0.1", mirror_port)):
        with pytest.raises(OSError), socket.create_connection(address, timeout=1):
            pass
