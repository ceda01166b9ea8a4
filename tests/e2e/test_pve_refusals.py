"""PVE's refusals the fabric's design leans on, shown one by one on the local Proxmox.

No engine here: the PVE API is called directly, so each PVE-side fact is shown on its own
(protection and HA refuse a delete without purge, and a protected container's rootfs update; the
release step lifts both; the grow window lifts protection only for a grow; a read-only token
cannot write). The provider that meets them in every engine run is upstream's own code (bpg's,
bridged: scripts/proxmoxve/).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fabric.runtime.grow_window import lift, restore
from fabric.runtime.release import release
from ops.localpve.server import RunningPve
from ops.localpve.services import serve_directory
from providers.pve_api import PveApi, PveApiError
from tests.lane import loopback, port

PAYLOAD = b"a template's bytes" * 512
APPLY, PREVIEW = "deploy@pve!ci", "preview@pve!ci"
VMID = 301


@dataclass
class Pve:
    running: RunningPve
    root: PveApi
    mirror: str
    tokens: dict[str, str]

    def as_token(self, tokenid: str) -> PveApi:
        return PveApi(self.running.url, str(self.running.cafile), api_token=f"{tokenid}={self.tokens[tokenid]}")

    def window_env(self, disk_gb: int) -> dict[str, str]:
        """What LxcContainer gives the release and grow-window commands (a credential by reference)."""
        return {
            "SAMAKIA_RELEASE_ENDPOINT": self.running.url,
            "SAMAKIA_RELEASE_NODE": "pve1",
            "SAMAKIA_RELEASE_VMID": str(VMID),
            "SAMAKIA_RELEASE_TOKEN_ENV": "TEST_TOKEN",
            "TEST_TOKEN": f"{APPLY}={self.tokens[APPLY]}",
            "SSL_CERT_FILE": str(self.running.cafile),
            "SAMAKIA_GROW_DISK_GB": str(disk_gb),
        }


@pytest.fixture
def pve(tmp_path: Path) -> Iterator[Pve]:
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "t_1.0.0_amd64.tar.zst").write_bytes(PAYLOAD)
    with serve_directory(tmp_path / "www", "127.0.0.1", port(8094)) as url:
        running = RunningPve(tmp_path / "pve", "pw-test", host=loopback(7)).start()
        try:
            root = PveApi(running.url, str(running.cafile), username="root@pam", password="pw-test")
            root.post("/pools", poolid="fabric")
            running.call(lambda: running.pve.grant_role("deploy@pve", "/", "FabricApply"))
            running.call(lambda: running.pve.grant_role("preview@pve", "/", "PVEAuditor"))
            tokens = {t: running.call(lambda t=t: running.pve.issue_token(t)) for t in (APPLY, PREVIEW)}
            yield Pve(running, root, url, tokens)
        finally:
            running.stop(save=False)


def _protected_ct(p: Pve) -> None:
    p.running.call(lambda: p.running.pve.add_ct(VMID, "t", node="pve1"))
    p.root.put(f"/nodes/pve1/lxc/{VMID}/config", protection=1)
    p.root.post("/cluster/ha/resources", sid=f"ct:{VMID}", type="ct", state="started")


def test_tokens_are_issued_in_pves_format(pve: Pve) -> None:
    # Upstream refuses any other shape: bpg proxmox/api/credentials.go, ErrInvalidAPIToken.
    import uuid

    for secret in pve.tokens.values():
        assert str(uuid.UUID(secret)) == secret


def test_protected_ha_container_refuses_delete_until_released(pve: Pve) -> None:
    _protected_ct(pve)
    api = pve.as_token(APPLY)
    with pytest.raises(PveApiError, match="protection mode enabled"):
        api.delete(f"/nodes/pve1/lxc/{VMID}")
    api.put(f"/nodes/pve1/lxc/{VMID}/config", protection=0)
    with pytest.raises(PveApiError, match="used in HA resources and purge parameter not set"):
        api.delete(f"/nodes/pve1/lxc/{VMID}")
    api.put(f"/nodes/pve1/lxc/{VMID}/config", protection=1)
    assert release(pve.window_env(4)) == [f"removed HA resource ct:{VMID}", f"cleared protection on CT {VMID}"]
    pve.root.wait("pve1", api.delete(f"/nodes/pve1/lxc/{VMID}"))
    assert VMID not in pve.root.containers()
    assert release(pve.window_env(4)) == ["container already gone"]


def test_the_grow_window_lifts_protection_only_for_a_grow_and_restores_it(pve: Pve) -> None:
    _protected_ct(pve)
    config = f"/nodes/pve1/lxc/{VMID}/config"
    size = pve.root.get(config)["rootfs"]
    current = int(size.split("size=")[1].rstrip("G").split(",")[0].rstrip("G"))
    # As upstream sends it (container.go, containerUpdate): rootfs in a config update, refused while protected.
    with pytest.raises(PveApiError, match="drive 'rootfs' - protection mode enabled"):
        pve.as_token(APPLY).put(config, rootfs=size.replace(f"size={current}G", f"size={current + 2}G"))
    assert "stays" in lift(pve.window_env(current)), "no grow: protection untouched"
    assert str(pve.root.get(config)["protection"]) == "1"
    assert "lifted" in lift(pve.window_env(current + 2))
    assert str(pve.root.get(config).get("protection", 0)) == "0"
    pve.as_token(APPLY).put(config, rootfs=size.replace(f"size={current}G", f"size={current + 2}G"))
    assert "restored" in restore(pve.window_env(current + 2))
    assert str(pve.root.get(config)["protection"]) == "1"
    assert "is protected" in restore(pve.window_env(current + 2))


def test_a_read_only_token_reads_but_cannot_write(pve: Pve) -> None:
    api = pve.as_token(PREVIEW)
    with pytest.raises(PveApiError, match="Permission check failed"):
        api.post("/nodes/pve1/storage/local/download-url", content="vztmpl", filename="t_1.0.0_amd64.tar.zst",
                 url=f"{pve.mirror}/t_1.0.0_amd64.tar.zst")  # fmt: skip
    assert api.get("/cluster/resources") is not None


def test_query_url_metadata_answers_from_the_mirror(pve: Pve) -> None:
    meta = pve.root.get("/nodes/pve1/query-url-metadata", url=f"{pve.mirror}/t_1.0.0_amd64.tar.zst")
    assert meta["filename"] == "t_1.0.0_amd64.tar.zst" and meta["size"] == len(PAYLOAD)
    with pytest.raises(PveApiError, match="can't open"):
        pve.root.get("/nodes/pve1/query-url-metadata", url=f"{pve.mirror}/missing.tar.zst")


def test_a_trailing_slash_reaches_the_same_ha_endpoint(pve: Pve) -> None:
    # Upstream's HA create is `POST /cluster/ha/resources/` (bpg proxmox/cluster/ha/resources/resources.go,
    # Create); PVE's router skips empty path fragments, so it creates the resource it then reads back.
    pve.running.call(lambda: pve.running.pve.add_ct(302, "t", node="pve1"))
    pve.root.post("/cluster/ha/resources/", sid="ct:302", type="ct", state="started")
    assert pve.root.get("/cluster/ha/resources/ct:302")["state"] == "started"
