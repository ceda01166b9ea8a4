"""The stand-in providers' own logic: diffs against refreshed state, and the PVE config mapping."""

from __future__ import annotations

from typing import Any

import pytest

from providers.base import PartialUpdateError, changed_keys, is_local_stack, project, same, stack_of
from providers.proxmoxve import CT, ProxmoxProvider, config_args
from providers.pve_api import PveApiError

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


class Recorder:
    """A PVE API double that records calls and answers from a script (unit level only)."""

    def __init__(self, answers: dict[tuple[str, str], Any], fail: dict[tuple[str, str], str] | None = None) -> None:
        self.answers, self.fail, self.calls = answers, fail or {}, []

    def _do(self, method: str, path: str, **kw: Any) -> Any:
        self.calls.append((method, path, kw))
        if (method, path) in self.fail:
            raise PveApiError(self.fail[(method, path)], 500)
        return self.answers.get((method, path), "UPID:pve1:1")

    def get(self, path: str, **kw: Any) -> Any:
        return self._do("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Any:
        return self._do("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> Any:
        return self._do("PUT", path, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self._do("DELETE", path, **kw)

    def wait(self, node: str, upid: str) -> dict[str, Any]:
        self.calls.append(("WAIT", upid, {}))
        return {"status": "stopped", "exitstatus": "OK"}


def test_delete_shuts_down_then_deletes_without_purge() -> None:
    api = Recorder({("GET", "/nodes/pve1/lxc/101/status/current"): {"status": "running"}})
    ProxmoxProvider._delete_ct(api, "101", {"nodeName": "pve1", "timeoutDelete": 60})  # type: ignore[arg-type]
    methods = [(m, p) for m, p, _ in api.calls if m != "WAIT"]
    assert methods == [
        ("GET", "/nodes/pve1/lxc/101/status/current"),
        ("POST", "/nodes/pve1/lxc/101/status/shutdown"),
        ("DELETE", "/nodes/pve1/lxc/101"),
    ]
    assert api.calls[1][2] == {"forceStop": 1, "timeout": 55}
    assert api.calls[-2][2] == {}, "no purge: PVE keeps refusing protected and HA-managed containers"


def test_a_rejected_update_records_the_planned_state_as_upstream_does() -> None:
    provider = ProxmoxProvider()
    api = Recorder({}, fail={("PUT", "/nodes/pve1/lxc/101/config"): "CT is locked (backup)"})
    provider.api = lambda: api  # type: ignore[method-assign]
    olds = {**INPUTS, "memory": {"dedicated": 1024.0, "swap": 256.0}}
    news = {**INPUTS, "memory": {"dedicated": 2048.0, "swap": 256.0}}
    with pytest.raises(PartialUpdateError) as err:
        provider.update(CT, "101", olds, news)
    assert "locked" in str(err.value)
    assert err.value.rid == "101" and err.value.state["memory"]["dedicated"] == 2048.0


def test_an_ha_resource_removed_outside_pulumi_leaves_the_state() -> None:
    api = Recorder({}, fail={("GET", "/cluster/ha/resources/ct%3A101"): "no such resource 'ct:101'"})
    assert ProxmoxProvider()._read_ha(api, "ct:101", {"resourceId": "ct:101"}) is None  # type: ignore[arg-type]
    live = Recorder({("GET", "/cluster/ha/resources/ct%3A101"): {"sid": "ct:101", "state": "stopped", "group": "g"}})
    read = ProxmoxProvider()._read_ha(live, "ct:101", {"resourceId": "ct:101", "state": "started"})  # type: ignore[arg-type]
    assert read is not None and read["state"] == "stopped", "a state changed by hand is drift"


def test_check_fills_in_upstream_defaults() -> None:
    checked = ProxmoxProvider().check(CT, {"nodeName": "pve1"})
    assert checked["started"] is True and checked["protection"] is False and checked["nodeName"] == "pve1"


def test_stand_ins_refuse_a_non_local_stack() -> None:
    assert stack_of("urn:pulumi:prod::samakia-fabric::proxmoxve:index/containerLegacy:ContainerLegacy::db") == "prod"
    assert is_local_stack("local") and is_local_stack("local-prod") and not is_local_stack("prod")

    class Aborted(Exception):
        pass

    class Context:
        def abort(self, code: Any, message: str) -> None:
            raise Aborted(message)

    with pytest.raises(Aborted, match=r"pulumi plugin install resource proxmoxve 8\.6\.0"):
        ProxmoxProvider()._local_only("urn:pulumi:prod::samakia-fabric::pulumi:providers:proxmoxve::p", Context())
    ProxmoxProvider()._local_only("urn:pulumi:local-prod::samakia-fabric::pulumi:providers:proxmoxve::p", Context())


def test_projection_ignores_computed_values_only() -> None:
    old = {"a": [{"x": 1, "computed": "mac"}], "b": 2}
    assert project(old, {"a": [{"x": 1}]}) == {"a": [{"x": 1}]}
    assert same(1, 1.0) and not same(1, 2.0)
    assert changed_keys({"a": 1}, {}, {"a": 1}) == ["a"], "a setting the program stops setting is a change"


def test_an_unknown_vmid_replaces_the_membership_and_release_but_not_the_ha_resource() -> None:
    """What the engine asks before a delete-before-replace of the container: each dependent's
    diff with the container's outputs unknown (pulumi step_generator.go,
    calculateDependentReplacements). A replace means "delete it before the container"."""
    from fabric.tokens import UNKNOWN
    from providers.command import CommandProvider
    from providers.proxmoxve import HA, MEMBER

    proxmox = ProxmoxProvider()
    member = {"poolId": "fabric", "vmId": 3101.0}
    assert proxmox.replaces(MEMBER, "fabric/vm/3101", member, {**member, "vmId": UNKNOWN}, ["vmId"]) == ["vmId"]
    ha = {"resourceId": "ct:3101", "state": "started"}
    assert proxmox.replaces(HA, "ct:3101", ha, {**ha, "resourceId": UNKNOWN}, ["resourceId"]) == []
    release = {"create": "true", "triggers": ["3101"]}
    assert CommandProvider().replaces("Command", "c", release, {**release, "triggers": UNKNOWN}, ["triggers"]) == [
        "triggers"
    ]


def test_an_update_preview_keeps_computed_values_the_program_leaves_unset() -> None:
    olds = {**INPUTS, "networkInterfaces": [{**INPUTS["networkInterfaces"][0], "macAddress": "BC:24:11:00:00:01"}]}
    news = {**INPUTS, "memory": {"dedicated": 2048.0, "swap": 256.0}}
    out = ProxmoxProvider().preview_update(CT, olds, news)
    assert out["networkInterfaces"][0]["macAddress"] == "BC:24:11:00:00:01", "an in-place update keeps the MAC"
    assert out["memory"]["dedicated"] == 2048.0
    pinned = {**news, "networkInterfaces": [{**news["networkInterfaces"][0], "macAddress": "BC:24:11:00:00:02"}]}
    out = ProxmoxProvider().preview_update(CT, olds, pinned)
    assert out["networkInterfaces"][0]["macAddress"] == "BC:24:11:00:00:02", "a configured value wins"
