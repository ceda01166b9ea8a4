"""The local Proxmox verifies template downloads as a node does, and keeps its state across runs."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from ops.localpve.server import RunningPve
from ops.localpve.services import serve_directory
from providers.pve_api import PveApi, PveApiError
from tests.lane import loopback, port


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

            def download(name: str, checksum: str) -> None:
                upid = api.post(
                    "/nodes/pve1/storage/local/download-url",
                    url=f"{url}/fam/t_1.0.0_amd64.tar.zst",
                    filename=name,
                    content="vztmpl",
                    checksum=checksum,
                    **{"checksum-algorithm": "sha256"},
                )
                api.wait("pve1", upid)

            with pytest.raises(PveApiError, match="checksum mismatch"):
                download("bad.tar.zst", "0" * 64)
            download("good.tar.zst", good)
            volumes = {c["volid"]: c["size"] for c in api.get("/nodes/pve1/storage/local/content")}
            assert volumes == {"local:vztmpl/good.tar.zst": len(payload)}
            assert pve.pve.template_path("good.tar.zst").read_bytes() == payload
            assert not pve.pve.template_path("bad.tar.zst").exists()
        finally:
            pve.stop()
        again = RunningPve(tmp_path / "pve", "pw-test", host=loopback(5)).start()
        try:
            api = PveApi(again.url, str(again.cafile), username="root@pam", password="pw-test")
            assert [c["volid"] for c in api.get("/nodes/pve1/storage/local/content")] == ["local:vztmpl/good.tar.zst"]
        finally:
            again.stop()
