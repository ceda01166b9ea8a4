"""The README's composition example is real code: it runs under mocks and the README quotes it verbatim."""

from __future__ import annotations

import runpy

import pytest

from fabric.testing import COMMAND, CONTAINER, FILE, run_program

from .conftest import ROOT

EXAMPLE = ROOT / "examples" / "compose.py"


def test_readme_quotes_the_example_verbatim() -> None:
    assert EXAMPLE.read_text().strip() in (ROOT / "README.md").read_text()


def test_example_composes_image_container_and_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROXMOX_VE_API_TOKEN", "root@pam!example=00000000-0000-0000-0000-000000000000")
    rec = run_program(lambda: runpy.run_path(str(EXAMPLE)))
    (image,) = rec.of_type(FILE)
    (container,) = rec.of_type(CONTAINER)
    (policy,) = rec.of_type(COMMAND)
    assert container.inputs["operatingSystem"]["templateFileId"] == f"local:vztmpl/{image.inputs['fileName']}"
    assert container.replacement_trigger.startswith("debian12-base@")
    assert container.urn in policy.dependencies and container.urn in policy.replace_with
    assert policy.inputs["triggers"][1] == container.replacement_trigger
    assert rec.stack_outputs["cache"] == "5001"
    assert rec.stack_outputs["image"] == container.replacement_trigger
