"""The public testing module, used as a user composing the components would use it."""

from __future__ import annotations

import runpy

import pulumi
import pytest

import fabric
from fabric.testing import COMMAND, CONTAINER, FILE, is_secret, resolve, run_program

from .conftest import ROOT

EXAMPLE = ROOT / "examples" / "compose.py"  # a user's program: image, container, policy


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROXMOX_VE_API_TOKEN", "root@pam!example=00000000-0000-0000-0000-000000000000")


@pytest.mark.usefixtures("token")
def test_run_program_records_each_registration_with_its_options() -> None:
    rec = run_program(lambda: runpy.run_path(str(EXAMPLE)))
    ct = rec.named(CONTAINER, "cache-1")
    (image,) = rec.of_type(FILE)
    policy = rec.named(COMMAND, "cache-1-config")
    build = fabric.load_catalog(ROOT / "images" / "catalog.yaml").families["debian12-base"][-1]
    assert ct.delete_before_replace and not image.delete_before_replace
    assert image.retain_on_delete and not ct.retain_on_delete
    assert ct.replacement_trigger == f"debian12-base@{build.version}#sha256:{build.sha256}"
    assert policy.replace_with == [ct.urn] and ct.urn in policy.dependencies
    assert ct.inputs["operatingSystem"]["templateFileId"] == f"local:vztmpl/{build.file_name}"  # the mocks' ids
    assert rec.stack_outputs == {"cache": "5001", "image": ct.replacement_trigger}
    component = next(r for r in rec.registered if r.type == "samakia:fabric:LxcContainer")
    assert rec.outputs[component.urn]["containerId"] == "5001"  # what register_outputs recorded


@pytest.mark.usefixtures("token")
def test_named_fails_unless_exactly_one_registration_matches() -> None:
    rec = run_program(lambda: runpy.run_path(str(EXAMPLE)))
    with pytest.raises(AssertionError, match="cache-2: 0 registrations"):
        rec.named(CONTAINER, "cache-2")


def test_config_secrets_result_and_helpers() -> None:
    def program() -> dict[str, object]:
        cfg = pulumi.Config("app")
        token = cfg.require_secret("token")
        pulumi.export("token", token)
        return {
            "cpu": cfg.require_int("cpu"),
            "secret": is_secret(token),
            "plain": is_secret(pulumi.Output.from_input("x")),
            "upper": resolve(token.apply(str.upper)),
        }

    rec = run_program(program, config={"app:cpu": "2", "app:token": "s3cret"}, secret_keys=["app:token"])
    assert rec.result == {"cpu": 2, "secret": True, "plain": False, "upper": "S3CRET"}
    assert rec.stack_outputs == {"token": "s3cret"}
