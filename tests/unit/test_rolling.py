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

SIG, SECRET_SIG = "4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270"  # Pulumi's secret wrapper


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
    # The reference stack keeps its token as a secure config value: it reaches the runner
    # through the environment, as a secret (encrypted in state), never on stdin or argv.
    assert request["tokenEnv"] == "SAMAKIA_VOLUME_PVE_CREDENTIAL"
    assert SECRET_VALUE not in pgdata.inputs["stdin"]
    env = pgdata.inputs["environment"]
    assert env[SIG] == SECRET_SIG and set(env["value"]) == {"SAMAKIA_VOLUME_PVE_CREDENTIAL"}
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


def test_an_env_credential_is_passed_by_name_only(monkeypatch: pytest.MonkeyPatch) -> None:
    raw, _ = good_raw()
    raw = deep_merge(raw, {"proxmox": {"apiToken": {"config": None, "env": "PVE_TOKEN"}}})
    raw.pop("proxmoxApiToken")
    monkeypatch.setenv("PVE_TOKEN", "ci@pve!fabric=not-a-real-token")

    def program() -> Fleet:
        fabric = fabric_from(raw, set())
        provider = proxmox_provider("proxmox", fabric.intent.proxmox)
        return Fleet("fabric", fabric, pulumi.ResourceOptions(providers=[provider]))

    rec = run_program(program)
    pgdata = _command(rec.registered, "db-1-pgdata")
    assert json.loads(pgdata.inputs["stdin"])["tokenEnv"] == "PVE_TOKEN"
    assert "environment" not in pgdata.inputs
    assert "not-a-real-token" not in json.dumps(pgdata.inputs)


def test_without_network_probes_a_member_waits_for_the_previous_ones_configuration() -> None:
    raw, _ = good_raw()
    rec = run_fleet(deep_merge(raw, {"connection": {"type": "chroot"}}))
    assert not [r for r in rec.registered if r.type == COMMAND and r.name.endswith("-health")]
    assert _command(rec.registered, "dns-1-config").urn in rec.named(CONTAINER, "dns-2").dependencies


def test_an_unconfigured_member_is_waited_for_through_its_container() -> None:
    raw, _ = good_raw()
    rec = run_fleet(deep_merge(raw, {"containers": {"dns-1": {"policy": None}}}))
    assert not [r for r in rec.registered if r.type == COMMAND and r.name == "dns-1-health"]
    assert rec.named(CONTAINER, "dns-1").urn in rec.named(CONTAINER, "dns-2").dependencies
