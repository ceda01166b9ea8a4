"""Each component's args validate on their own; each component registers its outputs."""

from __future__ import annotations

import dataclasses
from typing import Any

import pulumi
import pytest

from fabric import (
    ConfigPolicy,
    ConfigPolicyArgs,
    FabricConfigError,
    Image,
    ImageArgs,
    LxcContainer,
    LxcContainerArgs,
    PolicyTarget,
    load_catalog,
)
from fabric.testing import COMMAND, CONTAINER, run_program

from .conftest import ROOT
from .test_components import run_fleet

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAK1l9Ha5hXCXm4J85GZKatqwZtUwXnt1hPD68PbO600 ops"
BUILD = load_catalog(ROOT / "images" / "catalog.yaml").families["debian12-base"][0]


def container_args(**changes: Any) -> LxcContainerArgs:
    args = LxcContainerArgs(
        vmid=5001,
        hostname="cache-1",
        node="pve1",
        template_file_id="local:vztmpl/x.tar.zst",
        image_identity="debian12-base@1.0.0#sha256:aa",
        cpu=2,
        memory_mb=2048,
        disk_gb=16,
        datastore="local-lvm",
        address="10.50.0.11/24",
        gateway="10.50.0.1",
        ssh_keys=[KEY],
    )
    return dataclasses.replace(args, **changes)


def problems_of(args: Any) -> dict[str, str]:
    with pytest.raises(FabricConfigError) as err:
        args.validate()
    return {p.path: p.message for p in err.value.problems}


def test_valid_container_args_validate_to_themselves() -> None:
    args = container_args()
    assert args.validate() is args


def test_container_args_apply_the_intent_rules_and_name_every_field() -> None:
    found = problems_of(
        container_args(vmid=7, hostname="Cache_1", cpu=500, memory_mb=16, ssh_keys=["not a key"], tags=["Bad Tag"])
    )
    assert set(found) == {"vmid", "hostname", "cpu", "memoryMb", "sshKeys.0", "tags.0"}
    assert "DNS label" in found["hostname"]


@pytest.mark.parametrize(
    ("address", "gateway", "path"),
    [
        ("10.50.0.11", "10.50.0.1", "address"),
        ("10.50.0.11/24", "10.60.0.1", "gateway"),
        ("10.50.0.1/24", "10.50.0.1", "address"),
    ],
)
def test_container_args_check_the_address_against_the_gateway(address: str, gateway: str, path: str) -> None:
    assert path in problems_of(container_args(address=address, gateway=gateway))


def test_outputs_are_not_judged_before_they_are_known() -> None:
    def program() -> None:
        unknown = pulumi.Output.from_input("whatever")
        assert container_args(address=unknown, hostname=unknown, ssh_keys=[unknown]).problems() == []

    run_program(program)


def test_image_args_validate_on_their_own() -> None:
    good = ImageArgs(family="debian12-base", build=BUILD, node="pve1", mirror_url="https://images.example/lxc")
    assert good.validate() is good
    assert set(problems_of(dataclasses.replace(good, family="Debian 12", mirror_url="ftp://x"))) == {
        "family",
        "mirrorUrl",
    }


def test_policy_args_name_missing_files_and_bad_targets() -> None:
    def program() -> None:
        ct = pulumi.CustomResource("test:index:Container", "ct", {})
        args = ConfigPolicyArgs(
            container=ct,
            target=PolicyTarget(type="telnet", host="", key_env="-----BEGIN OPENSSH PRIVATE KEY-----"),
            playbook="missing.yml",
            playbooks_dir=ROOT / "playbooks",
        )
        found = problems_of(args)
        assert set(found) == {
            "target.type",
            "target.host",
            "target.keyEnv",
            "playbook",
            "container_id",
            "image_identity",
        }
        assert "PRIVATE KEY" not in str(found)

    run_program(program)


def test_a_component_with_bad_args_registers_nothing() -> None:
    def program() -> None:
        with pytest.raises(FabricConfigError):
            LxcContainer("bad", container_args(cpu=0))

    rec = run_program(program)
    assert rec.registered == []


def test_components_register_their_outputs_and_expose_them() -> None:
    def program() -> dict[str, Any]:
        image = Image(
            "base",
            ImageArgs(family="debian12-base", build=BUILD, node="pve1", mirror_url="https://images.example/lxc"),
        )
        ct = LxcContainer("ct", container_args(template_file_id=image.file_id, image_identity=image.identity))
        policy = ConfigPolicy(
            "ct-config",
            ConfigPolicyArgs(
                container=ct, target=PolicyTarget(type="ssh", host="10.50.0.11"), playbooks_dir=ROOT / "playbooks"
            ),
        )
        return {"image": image, "ct": ct, "policy": policy}

    rec = run_program(program)
    image, ct = rec.result["image"], rec.result["ct"]
    identity = BUILD.identity("debian12-base")
    by_type = {r.type: r.urn for r in rec.registered if not r.custom}
    assert rec.outputs[by_type["samakia:fabric:Image"]]["identity"] == identity
    assert rec.outputs[by_type["samakia:fabric:Image"]]["fileId"] == f"local:vztmpl/{BUILD.file_name}"
    assert rec.outputs[by_type["samakia:fabric:LxcContainer"]]["imageIdentity"] == identity
    assert rec.outputs[by_type["samakia:fabric:LxcContainer"]]["containerId"] == "5001"
    assert "digest" in rec.outputs[by_type["samakia:fabric:ConfigPolicy"]]
    assert isinstance(image.identity, pulumi.Output) and isinstance(ct.image_identity, pulumi.Output)
    # The policy takes the container's id and image from the component: the identity output
    # flows into the replacement trigger and the runner's request.
    (container,) = rec.of_type(CONTAINER)
    (command,) = rec.of_type(COMMAND)
    assert container.replacement_trigger == identity
    assert command.inputs["triggers"][:2] == ["5001", identity]
    assert f'"imageIdentity": "{identity}"' in command.inputs["stdin"]
    assert container.urn in command.replace_with


def test_fleet_registers_its_summary_as_outputs() -> None:
    rec = run_fleet()
    fleet_urn = next(r.urn for r in rec.registered if r.type == "samakia:fabric:Fleet")
    outputs = rec.outputs[fleet_urn]
    assert outputs["containers"]["db-1"] == {
        "vmid": 201,
        "address": "10.10.0.21/24",
        "node": "pve1",
        "image": "debian12-base@1.1.0",
    }
    assert outputs["images"]["debian12-base@1.1.0/pve1"] == "local:vztmpl/debian12-base_1.1.0_amd64.tar.zst"
    assert set(outputs["containers"]) == set(rec.result.containers)
