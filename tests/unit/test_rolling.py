"""Replica groups roll and data volumes outlive containers: the graph Fleet builds, under mocks."""

from __future__ import annotations

import json

import pulumi
import pytest

from fabric import Fleet, proxmox_provider
from fabric.testing import COMMAND, CONTAINER, Registered, run_program
from fabric.tokens import DATA_VOLUME

from .conftest import SECRET_VALUE, deep_merge, fabric_from, good_raw
from .test_components import run_fleet


def _command(rec_registered: list[Registered], name: str) -> Registered:
    matches = [r for r in rec_registered if r.type == COMMAND and r.name == name]
    assert len(matches) == 1, name
    return matches[0]


def test_the_second_resolver_waits_for_the_first_ones_health_check() -> None:
    rec = run_fleet()
    health1 = _command(rec.registered, "dns-1-health")
    dns2 = rec.named(CONTAINER, "dns-2")
    # A plain dependsOn edge: dns-2 is (re)created only once dns-1 answers, and the engine
    # never replaces dns-2 merely because dns-1 was replaced.
    assert health1.urn in dns2.dependencies
    assert dns2.delete_before_replace
    # The first member waits for nobody in its group.
    dns1 = rec.named(CONTAINER, "dns-1")
    assert not any(d.endswith("-health") for d in dns1.dependencies)


def test_a_health_check_runs_after_its_container_and_config_and_reruns_on_either() -> None:
    rec = run_fleet()
    health = _command(rec.registered, "dns-1-health")
    config = _command(rec.registered, "dns-1-config")
    container = rec.named(CONTAINER, "dns-1")
    assert {container.urn, config.urn} <= set(health.dependencies)
    request = json.loads(health.inputs["stdin"])
    assert request["profiles"] == ["dns"] and request["host"] == "10.10.0.11"
    assert 1 <= request["retries"] <= 600, "retries are bounded"
    assert health.inputs["create"] == "python3 -m fabric.runtime.health"
    assert len(health.inputs["triggers"]) == 3  # container id, instance, policy digest


def test_data_volumes_are_their_own_resources_mounted_by_id() -> None:
    rec = run_fleet()
    volumes = {r.name for r in rec.of_type(DATA_VOLUME)}
    assert volumes == {"db-1-pgdata", "db-1-wal"}
    pgdata = _command(rec.registered, "db-1-pgdata")
    assert pgdata.inputs["create"] == "python3 -m fabric.runtime.volume create"
    assert pgdata.inputs["delete"] == "python3 -m fabric.runtime.volume delete"
    request = json.loads(pgdata.inputs["stdin"])
    assert request["owner"] == 9000 and request["storage"] == "local-zfs" and request["node"] == "pve1"
    # The runner logs in as the provider does: from the variable the provider reads, named on
    # stdin; the token itself is in no input (inputs are state), not even as a secret.
    assert request["tokenEnv"] == "PROXMOX_VE_API_TOKEN"
    assert "environment" not in pgdata.inputs
    assert SECRET_VALUE not in json.dumps(pgdata.inputs)
    # The default datastore is the node's disk storage.
    wal = json.loads(_command(rec.registered, "db-1-wal").inputs["stdin"])
    assert wal["storage"] == "local-lvm"
    # The volume does not depend on the container: replacing the container never touches it.
    container = rec.named(CONTAINER, "db-1")
    assert container.urn not in pgdata.dependencies
    assert pgdata.urn in container.dependencies
    mounts = container.inputs["mountPoints"]
    assert [(m["path"], m["size"], m["backup"]) for m in mounts] == [
        ("/var/lib/postgresql", "20G", True),
        ("/srv/wal", "5G", False),
    ]


def test_volume_triggers_are_identity_not_size() -> None:
    rec = run_fleet()
    triggers = _command(rec.registered, "db-1-pgdata").inputs["triggers"]
    assert triggers == ["pve1", "local-zfs", 9000, "db-1", "pgdata"]


def test_a_password_login_reaches_the_runner_by_name_only(monkeypatch: pytest.MonkeyPatch) -> None:
    raw, _ = good_raw()
    login = {"apiToken": None, "username": "root@pam", "password": {"env": "PROXMOX_VE_PASSWORD"}}
    raw = deep_merge(raw, {"proxmox": login})
    monkeypatch.setenv("PROXMOX_VE_PASSWORD", "hunter2-not-a-real-password")

    def program() -> Fleet:
        fabric = fabric_from(raw, set())
        provider = proxmox_provider("proxmox", fabric.intent.proxmox)
        return Fleet("fabric", fabric, pulumi.ResourceOptions(providers=[provider]))

    rec = run_program(program)
    request = json.loads(_command(rec.registered, "db-1-pgdata").inputs["stdin"])
    assert (request["username"], request["passwordEnv"]) == ("root@pam", "PROXMOX_VE_PASSWORD")
    assert "tokenEnv" not in request
    assert "hunter2-not-a-real-password" not in str([r.inputs for r in rec.registered])


def test_an_unconfigured_member_is_waited_for_through_its_container() -> None:
    raw, _ = good_raw()
    rec = run_fleet(deep_merge(raw, {"containers": {"dns-1": {"policy": None}}}))
    assert not [r for r in rec.registered if r.type == COMMAND and r.name == "dns-1-health"]
    assert rec.named(CONTAINER, "dns-1").urn in rec.named(CONTAINER, "dns-2").dependencies
