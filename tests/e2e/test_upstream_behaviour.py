"""The stand-in provider's upstream behaviour against the local Proxmox, and PVE's refusals.

No engine here: the provider's own operations are called directly, so each PVE-side fact the
fabric's design leans on is shown on its own (protection and HA refuse a delete without purge,
the release step lifts both, a read-only token cannot write, pool and HA read-back).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fabric.runtime.release import release
from ops.localpve.server import RunningPve
from ops.localpve.services import serve_directory
from providers.base import PartialUpdateError, Props, changed_keys, diff_paths
from providers.proxmoxve import CT, FILE, HA, MEMBER, ProxmoxProvider
from providers.pve_api import PveApi, PveApiError
from tests.lane import loopback, port

PAYLOAD = b"a template's bytes" * 512
APPLY, PREVIEW = "deploy@pve!ci", "preview@pve!ci"


@dataclass
class Pve:
    running: RunningPve
    root: PveApi
    mirror: str
    tokens: dict[str, str]

    def provider(self, tokenid: str) -> ProxmoxProvider:
        provider = ProxmoxProvider()
        provider.config = {"endpoint": self.running.url, "apiToken": f"{tokenid}={self.tokens[tokenid]}"}
        return provider


@pytest.fixture
def pve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Pve]:
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "t_1.0.0_amd64.tar.zst").write_bytes(PAYLOAD)
    with serve_directory(tmp_path / "www", "127.0.0.1", port(8094)) as url:
        running = RunningPve(tmp_path / "pve", "pw-test", host=loopback(7)).start()
        try:
            monkeypatch.setenv("SSL_CERT_FILE", str(running.cafile))  # the provider trusts the local CA
            root = PveApi(running.url, str(running.cafile), username="root@pam", password="pw-test")
            root.post("/pools", poolid="fabric")
            tokens = {APPLY: os.urandom(9).hex(), PREVIEW: os.urandom(9).hex()}
            running.call(lambda: running.pve.grant_role("deploy@pve", "/", "FabricApply"))
            running.call(lambda: running.pve.grant_role("preview@pve", "/", "PVEAuditor"))
            for tokenid, secret in tokens.items():
                running.call(lambda t=tokenid, s=secret: running.pve.add_token(t, s))
            yield Pve(running, root, url, tokens)
        finally:
            running.stop(save=False)


def _template(p: Pve, provider: ProxmoxProvider) -> str:
    props = provider.check(
        FILE,
        {
            "nodeName": "pve1",
            "datastoreId": "local",
            "contentType": "vztmpl",
            "url": f"{p.mirror}/t_1.0.0_amd64.tar.zst",
            "fileName": "t_1.0.0_amd64.tar.zst",
            "checksum": hashlib.sha256(PAYLOAD).hexdigest(),
            "checksumAlgorithm": "sha256",
        },
    )
    rid, _ = provider.create(FILE, props)
    return rid


def _container(template: str, vmid: int) -> Props:
    return {
        "nodeName": "pve1",
        "vmId": float(vmid),
        "unprivileged": True,
        "protection": True,
        "tags": ["t"],
        "cpu": {"cores": 1.0},
        "memory": {"dedicated": 512.0, "swap": 0.0},
        "disk": {"datastoreId": "local-lvm", "size": 4.0},
        "operatingSystem": {"templateFileId": template, "type": "debian"},
        "networkInterfaces": [{"name": "eth0", "bridge": "vmbr0"}],
        "initialization": {
            "hostname": "t",
            "ipConfigs": [{"ipv4": {"address": "10.9.0.5/24", "gateway": "10.9.0.1"}}],
            "dns": {"servers": ["10.9.0.2"], "domain": "t.test"},
            "userAccount": {"keys": ["ssh-ed25519 AAAA test"]},
        },
    }


def test_protected_ha_container_refuses_delete_until_released(pve: Pve) -> None:
    provider = pve.provider(APPLY)
    inputs = provider.check(CT, _container(_template(pve, provider), 301))
    rid, state = provider.create(CT, inputs)
    read = provider.read(CT, rid, state)
    assert read is not None and changed_keys(read, inputs, inputs) == [], "a created container shows no diff"
    ha = {"resourceId": "ct:301", "maxRestart": 2.0, "maxRelocate": 1.0}  # numbers arrive as floats
    ha_id, ha_state = provider.create(HA, provider.check(HA, ha))
    member_id, member_state = provider.create(MEMBER, {"poolId": "fabric", "vmId": 301.0})

    grown = {**inputs, "disk": {**inputs["disk"], "size": 6.0}}
    paths = [p for k in grown for p in diff_paths(read.get(k), grown[k], k)]
    assert provider.replaces(CT, rid, read, grown, paths) == [], "a disk grow is in place"
    # As upstream (container.go, containerUpdate): the resize goes through, then the rootfs it puts in
    # the config update is refused for a protected container (pve-container update_pct_config).
    with pytest.raises(PartialUpdateError, match="can't update CT 301 drive 'rootfs' - protection mode enabled"):
        provider.update(CT, rid, read, grown)
    assert "size=6G" in pve.root.get("/nodes/pve1/lxc/301/config")["rootfs"]

    with pytest.raises(PveApiError, match="protection mode enabled"):
        provider.delete(CT, rid, state)
    pve.root.put("/nodes/pve1/lxc/301/config", protection=0)
    with pytest.raises(PveApiError, match="used in HA resources and purge parameter not set"):
        provider.delete(CT, rid, state)
    pve.root.put("/nodes/pve1/lxc/301/config", protection=1)

    env = {
        "SAMAKIA_RELEASE_ENDPOINT": pve.running.url,
        "SAMAKIA_RELEASE_NODE": "pve1",
        "SAMAKIA_RELEASE_VMID": "301",
        "SAMAKIA_RELEASE_TOKEN_ENV": "TEST_TOKEN",
        "TEST_TOKEN": f"{APPLY}={pve.tokens[APPLY]}",
        "SSL_CERT_FILE": str(pve.running.cafile),
    }
    assert release(env) == ["removed HA resource ct:301", "cleared protection on CT 301"]
    assert provider.read(HA, ha_id, ha_state) is None, "an HA entry removed outside Pulumi reads as gone"
    provider.delete(HA, ha_id, ha_state)  # as upstream: deleting a missing HA resource is not an error
    provider.delete(CT, rid, state)
    assert 301 not in pve.root.containers()
    assert provider.read(MEMBER, member_id, member_state) is None, "PVE drops a destroyed guest from its pool"


def test_a_read_only_token_reads_but_cannot_write(pve: Pve) -> None:
    with pytest.raises(PveApiError, match="Permission check failed"):
        _template(pve, pve.provider(PREVIEW))
    assert pve.provider(PREVIEW).api().get("/cluster/resources") is not None


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
