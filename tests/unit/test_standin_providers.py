"""The stand-in providers' own logic: diffs against refreshed state, and the PVE config mapping."""

from __future__ import annotations

from typing import Any

from providers.base import changed_keys, project, same
from providers.proxmoxve import CT, ProxmoxProvider, config_args

INPUTS: dict[str, Any] = {
    "nodeName": "pve1",
    "vmId": 101.0,
    "cpu": {"cores": 2.0},
    "memory": {"dedicated": 1024.0, "swap": 256.0},
    "disk": {"datastoreId": "local-lvm", "size": 8.0},
    "tags": ["db", "prod"],
    "unprivileged": True,
    "startOnBoot": True,
    "protection": False,
    "features": {"nesting": True, "keyctl": False, "fuse": False},
    "operatingSystem": {"templateFileId": "local:vztmpl/x_1.0.0_amd64.tar.zst", "type": "debian"},
    "networkInterfaces": [{"name": "eth0", "bridge": "vmbr0", "vlanId": 30.0}],
    "initialization": {
        "hostname": "db-1",
        "ipConfigs": [{"ipv4": {"address": "10.30.0.11/24", "gateway": "10.30.0.1"}}],
        "dns": {"servers": ["10.20.0.11"], "domain": "data.example"},
        "userAccount": {"keys": ["ssh-ed25519 AAAA k"]},
    },
    "started": True,
}


class FakeApi:
    def __init__(self, cfg: dict[str, Any], status: str = "running") -> None:
        self.cfg, self.status = cfg, status

    def get(self, path: str, **_: Any) -> Any:
        return {"status": self.status} if path.endswith("/status/current") else self.cfg


def test_config_args_map_every_managed_setting() -> None:
    args = config_args(INPUTS)
    assert args == {
        "hostname": "db-1",
        "cores": 2,
        "memory": 1024,
        "swap": 256,
        "onboot": 1,
        "protection": 0,
        "tags": "db;prod",
        "features": "nesting=1",
        "net0": "name=eth0,bridge=vmbr0,tag=30,ip=10.30.0.11/24,gw=10.30.0.1",
        "nameserver": "10.20.0.11",
        "searchdomain": "data.example",
    }


def _read(cfg: dict[str, Any]) -> dict[str, Any]:
    provider = ProxmoxProvider()
    out = provider._read_ct(FakeApi(cfg), "101", INPUTS)  # type: ignore[arg-type]
    assert out is not None
    return out


LIVE = {
    "hostname": "db-1",
    "cores": 2,
    "memory": 1024,
    "swap": 256,
    "onboot": 1,
    "unprivileged": 1,
    "tags": "db;prod",
    "features": "nesting=1",
    "rootfs": "local-lvm:vm-101-disk-0,size=8G",
    "net0": "name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:01,ip=10.30.0.11/24,gw=10.30.0.1,tag=30,type=veth",
    "nameserver": "10.20.0.11",
    "searchdomain": "data.example",
}


def test_a_container_as_created_shows_no_diff() -> None:
    state = _read(LIVE)
    assert state["networkInterfaces"][0]["macAddress"] == "BC:24:11:00:00:01"
    assert changed_keys(state, INPUTS, INPUTS) == []


def test_drift_of_a_managed_setting_is_a_diff() -> None:
    state = _read({**LIVE, "memory": 4096, "tags": "db;prod;hotfix"})
    assert changed_keys(state, INPUTS, INPUTS) == ["memory", "tags"]


def test_stopped_container_drifts_on_started() -> None:
    provider = ProxmoxProvider()
    state = provider._read_ct(FakeApi(LIVE, status="stopped"), "101", INPUTS)  # type: ignore[arg-type]
    assert state is not None and changed_keys(state, INPUTS, INPUTS) == ["started"]


def test_replacement_keys_follow_the_upstream_provider() -> None:
    keys = ProxmoxProvider.replace_keys[CT]
    assert {"nodeName", "vmId", "operatingSystem"} <= set(keys)
    assert "memory" not in keys and "tags" not in keys


def test_projection_ignores_computed_values_only() -> None:
    old = {"a": [{"x": 1, "computed": "mac"}], "b": 2}
    assert project(old, {"a": [{"x": 1}]}) == {"a": [{"x": 1}]}
    assert same(1, 1.0) and not same(1, 2.0)
    assert changed_keys({"a": 1}, {}, {"a": 1}) == ["a"], "a setting the program stops setting is a change"
