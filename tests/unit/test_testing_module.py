"""The public testing module, used as a user composing the components would use it."""

from __future__ import annotations

import pulumi
import pytest

import fabric
from fabric.testing import CONTAINER, FILE, is_secret, resolve, run_program

from .conftest import ROOT

BUILD = fabric.load_catalog(ROOT / "images" / "catalog.yaml").families["debian12-base"][0]


def my_program() -> str:
    """A user's own program: one image, one container on it, one secret export."""
    cfg = pulumi.Config("app")
    image = fabric.Image(
        "base",
        fabric.ImageArgs(family="debian12-base", build=BUILD, node="pve1", mirror_url="https://images.example/lxc"),
    )
    ct = fabric.LxcContainer(
        "cache-1",
        fabric.LxcContainerArgs(
            vmid=5001,
            hostname="cache-1",
            node="pve1",
            template_file_id=image.file_id,
            image_identity=image.identity,
            cpu=cfg.require_int("cpu"),
            memory_mb=1024,
            disk_gb=8,
            datastore="local-lvm",
            address="10.50.0.11/24",
            gateway="10.50.0.1",
            ssh_keys=["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAK1l9Ha5hXCXm4J85GZKatqwZtUwXnt1hPD68PbO600 ops"],
        ),
    )
    pulumi.export("token", cfg.require_secret("token"))
    pulumi.export("ct", ct.container_id)
    return "done"


def test_run_program_records_registrations_options_config_and_exports() -> None:
    rec = run_program(my_program, config={"app:cpu": "2", "app:token": "s3cret"}, secret_keys=["app:token"])
    assert rec.result == "done"
    ct = rec.named(CONTAINER, "cache-1")
    (image,) = rec.of_type(FILE)
    assert ct.inputs["cpu"]["cores"] == 2  # the config reached the program
    assert ct.delete_before_replace and not image.delete_before_replace
    assert image.retain_on_delete
    assert ct.replacement_trigger == f"debian12-base@{BUILD.version}#sha256:{BUILD.sha256}"
    assert ct.inputs["operatingSystem"]["templateFileId"] == f"local:vztmpl/{BUILD.file_name}"  # mock ids
    assert rec.stack_outputs == {"token": "s3cret", "ct": "5001"}


def test_named_fails_unless_exactly_one_registration_matches() -> None:
    rec = run_program(my_program, config={"app:cpu": "1", "app:token": "x"})
    with pytest.raises(AssertionError, match="cache-2: 0 registrations"):
        rec.named(CONTAINER, "cache-2")


def test_resolve_and_is_secret() -> None:
    def program() -> dict[str, bool]:
        secret = pulumi.Output.secret("pw")
        plain = pulumi.Output.from_input("x")
        assert resolve(secret.apply(str.upper)) == "PW"
        return {"secret": is_secret(secret), "plain": is_secret(plain)}

    assert run_program(program).result == {"secret": True, "plain": False}
