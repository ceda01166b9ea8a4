"""Components under Pulumi mocks: argument mapping, replacement intent, graph order, secrets."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from fabric import Fleet, proxmox_provider
from fabric.errors import FabricConfigError
from fabric.testing import COMMAND, CONTAINER, FILE, HA, Recording, run_program

from .conftest import SECRET_VALUE, deep_merge, engine_config, fabric_from, good_raw

MEMBERSHIP = "proxmoxve:pool/membership:Membership"


def run_fleet(raw: dict[str, Any] | None = None) -> Recording:
    raw = raw if raw is not None else good_raw()[0]
    _, secret_keys = good_raw()

    def program() -> Fleet:
        fabric = fabric_from(raw)
        provider = proxmox_provider("proxmox", fabric.intent.proxmox)
        return Fleet("fabric", fabric, pulumi.ResourceOptions(providers=[provider]))

    return run_program(program, config=engine_config(raw, secret_keys), secret_keys=sorted(secret_keys))


def test_every_container_field_reaches_the_provider() -> None:
    rec = run_fleet()
    db = rec.named(CONTAINER, "db-1").inputs
    assert db["nodeName"] == "pve1"
    assert db["vmId"] == 201
    assert db["cpu"] == {"cores": 4}
    assert db["memory"] == {"dedicated": 8192, "swap": 1024}
    assert db["disk"] == {"datastoreId": "fast-ssd", "size": 100}
    assert db["features"] == {"nesting": True, "keyctl": True, "fuse": False}
    assert db["unprivileged"] is False
    assert db["startOnBoot"] is False
    assert db["protection"] is True
    assert "poolId" not in db, "pool membership is its own resource (upstream's pool_id would replace the container)"
    assert rec.named(MEMBERSHIP, "db-1-pool").inputs == {"poolId": "databases", "vmId": 201}
    assert db["tags"] == ["database", "test"]
    assert db["started"] is True
    assert db["operatingSystem"] == {
        "templateFileId": "local:vztmpl/debian12-base_1.1.0_amd64.tar.zst",
        "type": "debian",
    }
    assert db["networkInterfaces"] == [{"name": "eth0", "bridge": "vmbr0", "vlanId": 10}]
    init = db["initialization"]
    assert init["hostname"] == "db-1"
    assert init["ipConfigs"] == [{"ipv4": {"address": "10.10.0.21/24", "gateway": "10.10.0.1"}}]
    assert init["userAccount"]["keys"][0].startswith("ssh-ed25519 ")
    assert init["dns"] == {"servers": ["10.10.0.2"], "domain": "lan.test"}
    dns1 = rec.named(CONTAINER, "dns-1").inputs
    # Defaults fill what a container leaves out; the node's storage is the disk default.
    assert dns1["unprivileged"] is True and dns1["startOnBoot"] is True and dns1["protection"] is False
    assert dns1["memory"] == {"dedicated": 512, "swap": 256}
    assert dns1["disk"] == {"datastoreId": "local-lvm", "size": 8}
    assert dns1["description"] == "first resolver"
    assert "poolId" not in dns1
    assert not [m for m in rec.of_type(MEMBERSHIP) if m.name == "dns-1-pool"]


def test_ha_resource_only_where_declared() -> None:
    rec = run_fleet()
    (ha,) = rec.of_type(HA)
    assert ha.name == "dns-1-ha"
    assert ha.inputs == {
        "resourceId": "ct:101",
        "state": "started",
        "group": "dns-ha",
        "maxRestart": 2,
        "maxRelocate": 3,
    }
    assert rec.named(CONTAINER, "dns-1").urn in ha.dependencies
    # Re-created after the container on every replacement, deleted first (same sid).
    assert ha.replace_with == [rec.named(CONTAINER, "dns-1").urn] and ha.delete_before_replace


def test_protected_or_ha_containers_get_a_release_step_that_takes_the_vmid_from_the_container() -> None:
    rec = run_fleet()
    releases = {c.name: c for c in rec.of_type(COMMAND) if c.name.endswith("-release")}
    assert set(releases) == {"db-1-release", "dns-1-release"}, "only containers with protection or HA"
    db = releases["db-1-release"]
    assert db.inputs["delete"] == "python3 -m fabric.runtime.release"
    env = db.inputs["environment"]
    assert env["SAMAKIA_RELEASE_VMID"] == "201" and env["SAMAKIA_RELEASE_NODE"] == "pve1"
    assert "SECRET" not in str(env).upper().replace("SAMAKIA_RELEASE_", ""), "credentials by reference only"
    assert db.inputs["triggers"] == ["201"], "the container's id: replaced ahead of a delete-before-replace"
    assert db.inputs["addPreviousOutputInEnv"] is False
    assert rec.named(CONTAINER, "db-1").urn in db.dependencies


def test_a_network_without_resolvers_sends_its_domain_and_no_empty_server_list() -> None:
    # Upstream gives initialization.dns.servers MinItems 1: an empty list fails its preview.
    raw = good_raw()[0]
    for net in raw["networks"].values():
        net.pop("dnsServers", None)
    init = run_fleet(raw).named(CONTAINER, "db-1").inputs["initialization"]
    assert init["dns"] == {"domain": "lan.test"}, init.get("dns")


def test_a_protected_container_lifts_and_restores_protection_around_a_disk_grow() -> None:
    rec = run_fleet()
    commands = {c.name: c for c in rec.of_type(COMMAND)}
    lift, restore, db = commands["db-1-grow-lift"], commands["db-1-grow-restore"], rec.named(CONTAINER, "db-1")
    assert lift.inputs["create"] == "python3 -m fabric.runtime.grow_window lift"
    assert restore.inputs["create"] == "python3 -m fabric.runtime.grow_window restore"
    for cmd in (lift, restore):
        assert cmd.inputs["triggers"] == [100], "re-run exactly when the disk size changes"
        assert cmd.inputs["environment"]["SAMAKIA_GROW_DISK_GB"] == "100"
        assert cmd.inputs["environment"]["SAMAKIA_RELEASE_VMID"] == "201"
    assert lift.urn in db.dependencies, "lifted before the container's update"
    assert db.urn in restore.dependencies, "restored after it"
    assert "dns-2-grow-lift" not in commands and "dns-1-grow-lift" not in commands, "only protected containers"


def test_image_is_a_verified_retained_never_overwritten_download() -> None:
    rec = run_fleet()
    files = {f.name: f for f in rec.of_type(FILE)}
    # One template per (version, node) that uses it.
    assert set(files) == {"debian12-base-1.0.0-pve1", "debian12-base-1.0.0-pve2", "debian12-base-1.1.0-pve1"}
    f = files["debian12-base-1.1.0-pve1"]
    assert f.inputs["contentType"] == "vztmpl"
    assert f.inputs["url"] == "https://images.test/lxc/debian12-base/debian12-base_1.1.0_amd64.tar.zst"
    assert f.inputs["fileName"] == "debian12-base_1.1.0_amd64.tar.zst"
    assert f.inputs["checksum"] == "2" * 64
    assert f.inputs["checksumAlgorithm"] == "sha256"
    assert f.inputs["overwrite"] is False
    assert f.inputs["overwriteUnmanaged"] is True  # a retained earlier download is adopted on rollback
    assert f.retain_on_delete is True


def test_image_change_is_an_explicit_replacement() -> None:
    rec = run_fleet()
    dns1 = rec.named(CONTAINER, "dns-1")
    assert dns1.delete_before_replace is True
    assert dns1.replacement_trigger == "debian12-base@1.0.0#sha256:" + "1" * 64

    raw = deep_merge(good_raw()[0], {"images": {"base": "debian12-base@1.1.0"}})
    bumped = run_fleet(raw)
    assert bumped.named(CONTAINER, "dns-1").replacement_trigger == "debian12-base@1.1.0#sha256:" + "2" * 64
    assert bumped.named(CONTAINER, "dns-2").replacement_trigger == "debian12-base@1.1.0#sha256:" + "2" * 64
    # db-1 runs another alias: its trigger stays as it was.
    assert bumped.named(CONTAINER, "db-1").replacement_trigger == rec.named(CONTAINER, "db-1").replacement_trigger


def test_unrelated_change_leaves_replacement_trigger_alone() -> None:
    before = run_fleet()
    raw = deep_merge(good_raw()[0], {"containers": {"dns-1": {"memoryMb": 1024, "tags": ["test", "dns", "bigger"]}}})
    after = run_fleet(raw)
    old, new = before.named(CONTAINER, "dns-1"), after.named(CONTAINER, "dns-1")
    assert new.inputs["memory"]["dedicated"] == 1024
    assert new.replacement_trigger == old.replacement_trigger
    assert new.delete_before_replace is True


def test_graph_order_image_then_container_then_policy() -> None:
    rec = run_fleet()
    file_urn = rec.named(FILE, "debian12-base-1.1.0-pve1").urn
    container = rec.named(CONTAINER, "db-1")
    assert file_urn in container.dependencies
    policy = rec.named(COMMAND, "db-1-config")
    assert container.urn in policy.dependencies
    assert container.urn in policy.replace_with
    order = [r.urn for r in rec.registered]
    assert order.index(file_urn) < order.index(container.urn) < order.index(policy.urn)


def test_components_nest_under_their_parents_and_use_the_explicit_provider() -> None:
    rec = run_fleet()
    component = rec.named("samakia:fabric:LxcContainer", "db-1")
    assert component.custom is False
    assert rec.named(CONTAINER, "db-1").parent == component.urn
    assert (
        rec.named("samakia:fabric:ConfigPolicy", "db-1-config").parent
        == rec.named("samakia:fabric:Fleet", "fabric").urn
    )
    provider = rec.named("pulumi:providers:proxmoxve", "proxmox")
    assert rec.named(CONTAINER, "db-1").provider.startswith(provider.urn)


def test_config_policy_command_carries_no_secret_and_no_vars_in_argv() -> None:
    rec = run_fleet()
    cmd = rec.named(COMMAND, "db-1-config").inputs
    assert cmd["create"] == "python3 -m fabric.runtime.apply_policy"
    assert cmd["logging"] == "stdout"
    assert "fabric_admin_user" not in cmd["create"]
    assert "dba" in cmd["stdin"]  # the policy's variables travel on stdin
    assert SECRET_VALUE not in str(cmd)
    triggers = cmd["triggers"]
    assert triggers[0] == "201" and triggers[1].startswith("debian12-base@1.1.0#sha256:") and len(triggers[2]) == 64


def test_the_provider_holds_no_credential_the_environment_does() -> None:
    """Provider inputs go to state; the token must not (the provider reads PROXMOX_VE_API_TOKEN)."""
    rec = run_fleet()
    inputs = rec.named("pulumi:providers:proxmoxve", "proxmox").inputs
    assert inputs["endpoint"] == "https://pve.test:8006/"
    assert not {"apiToken", "password"} & set(inputs)
    assert SECRET_VALUE not in str([r.inputs for r in rec.registered])


def test_password_login_names_the_user_but_not_the_password(monkeypatch: Any) -> None:
    raw, _ = good_raw()
    raw = deep_merge(
        raw, {"proxmox": {"apiToken": None, "username": "root@pam", "password": {"env": "PROXMOX_VE_PASSWORD"}}}
    )
    monkeypatch.setenv("PROXMOX_VE_PASSWORD", "hunter2-test")
    rec = run_program(lambda: proxmox_provider("proxmox", fabric_from(raw, set()).intent.proxmox))
    inputs = rec.named("pulumi:providers:proxmoxve", "proxmox").inputs
    assert inputs["username"] == "root@pam" and "password" not in inputs
    assert "hunter2-test" not in str(inputs)


@pytest.mark.parametrize(
    ("ref", "path"),
    [
        ({"env": "MY_TOKEN"}, "proxmox.apiToken.env"),
        ({"env": None, "config": "proxmoxApiToken"}, "proxmox.apiToken.config"),
    ],
)
def test_a_credential_the_provider_could_only_get_through_state_is_refused(ref: dict[str, Any], path: str) -> None:
    raw, _ = good_raw()
    secure = {"proxmoxApiToken": "[secret]"} if "config" in ref else {}
    raw = deep_merge(raw, {"proxmox": {"apiToken": ref}, **secure})
    settings = fabric_from(raw, {f"fabric:{k}" for k in secure}).intent.proxmox
    with pytest.raises(FabricConfigError) as caught:
        proxmox_provider("proxmox", settings)
    assert caught.value.paths == [path]
    assert "PROXMOX_VE_API_TOKEN" in str(caught.value)
