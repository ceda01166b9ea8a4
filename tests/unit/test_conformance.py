"""The stand-in proxmoxve provider against the upstream provider's own schema.

The fixture (providers/conformance/bpg-<version>.json) is dumped from bpg's Go module by
``make conformance`` (which also fails when it is stale); here every input path the fabric's
components really register is changed one at a time and the stand-in's verdict (replace or
update in place) is compared with the dump's, with its defaults and computed keys. A mutated
copy of the dump proves the comparison can fail.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from fabric.testing import CONTAINER, FILE, HA, Recording
from providers import upstream_schema
from providers.proxmoxve import CT, MEMBER, ProxmoxProvider
from providers.proxmoxve import FILE as FILE_TYPE
from providers.proxmoxve import HA as HA_TYPE

from .test_components import run_fleet

MEMBERSHIP = "proxmoxve:pool/membership:Membership"
TOKENS = {CONTAINER: CT, FILE: FILE_TYPE, HA: HA_TYPE, MEMBERSHIP: MEMBER}


@pytest.fixture(scope="module")
def fleet() -> Recording:
    return run_fleet()


def samples(rec: Recording) -> dict[str, tuple[str, dict[str, Any]]]:
    """One registered resource per upstream type: type -> (id, inputs as the engine sends them)."""
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    for token, typ in TOKENS.items():
        regs = rec.of_type(token)
        if regs:
            inputs = copy.deepcopy(regs[0].inputs)
            rid = str(int(inputs["vmId"])) if typ == CT else "id"
            out[typ] = (rid, inputs)
    return out


def all_divergences(facts: dict[str, upstream_schema.ResourceFacts], rec: Recording) -> list[str]:
    provider = ProxmoxProvider()
    out = []
    for typ, (rid, inputs) in samples(rec).items():
        out += upstream_schema.divergences(provider, typ, rid, inputs, facts[typ])
    return out


def test_the_fixture_is_bpg_at_the_pinned_version() -> None:
    dump = upstream_schema.load()
    assert dump["version"] == upstream_schema.BPG_VERSION
    gomod = (upstream_schema.FIXTURE_DIR / "go.mod").read_text()
    assert f"github.com/bpg/terraform-provider-proxmox {upstream_schema.BPG_VERSION}" in gomod
    assert {r["name"] for r in dump["resources"]} == set(upstream_schema.RESOURCES)


def test_every_registered_type_is_checked(fleet: Recording) -> None:
    assert set(samples(fleet)) >= {CT, FILE_TYPE, HA_TYPE}


def test_the_stand_in_conforms_to_the_upstream_schema(fleet: Recording) -> None:
    assert all_divergences(upstream_schema.facts(), fleet) == []


def test_upstream_facts_the_fabric_relies_on() -> None:
    ct = upstream_schema.facts()[CT]
    for path in ("nodeName", "operatingSystem.templateFileId", "disk.datastoreId", "initialization.userAccount.keys"):
        assert upstream_schema.forces_replace(ct, path), path
    for path in ("memory.dedicated", "disk.size", "protection", "tags"):
        assert not upstream_schema.forces_replace(ct, path), path
    assert ct.customize_diff, "the VMID and disk-shrink rules come from the container's CustomizeDiff"


def _mutated(tmp_path: Path, resource: str, path: str, **change: Any) -> Path:
    dump = json.loads(upstream_schema.FIXTURE.read_text())
    res = next(r for r in dump["resources"] if r["name"] == resource)
    attr = next(a for a in res["attributes"] if a["path"] == path)
    attr.update(change)
    out = tmp_path / "mutated.json"
    out.write_text(json.dumps(dump))
    return out


MUTATIONS = [
    ("proxmox_virtual_environment_container", "memory.dedicated", {"force_new": True}, "memory.dedicated"),
    ("proxmox_virtual_environment_container", "disk.datastore_id", {"force_new": False}, "disk.datastoreId"),
    ("proxmox_virtual_environment_container", "protection", {"default": True}, "protection"),
    ("proxmox_haresource", "group", {"force_new": True}, "group"),
]


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m[1] for m in MUTATIONS])
def test_a_divergence_from_the_dump_fails(
    tmp_path: Path, fleet: Recording, mutation: tuple[str, str, dict[str, Any], str]
) -> None:
    resource, path, change, named = mutation
    mutated = upstream_schema.facts_from_dump(upstream_schema.load(_mutated(tmp_path, resource, path, **change)))
    found = all_divergences(mutated, fleet)
    assert found, "a mutated dump must not conform"
    assert any(named in line for line in found), found


def test_names_follow_the_sdk() -> None:
    import pulumi_proxmoxve as proxmoxve

    assert upstream_schema.pulumi_path(proxmoxve.ContainerLegacyArgs, "network_interface.mac_address") == (
        "networkInterfaces.macAddress"
    )
    assert upstream_schema.pulumi_path(proxmoxve.ContainerLegacyArgs, "initialization.ip_config.ipv4.address") == (
        "initialization.ipConfigs.ipv4.address"
    )
    assert upstream_schema.pulumi_path(proxmoxve.ContainerLegacyArgs, "no_such_thing") is None


def test_facts_load_once_under_concurrent_rpcs() -> None:
    """A fresh provider process answers RPCs from several threads; the SDK's lazy submodules must
    not be met half-initialised (it was: "module 'pulumi_proxmoxve.download' has no attribute")."""
    import subprocess
    import sys

    code = (
        "import threading\n"
        "from providers import upstream_schema as u\n"
        "errors = []\n"
        "def load():\n"
        "    try:\n"
        "        u.facts()\n"
        "    except Exception as err:\n"
        "        errors.append(repr(err))\n"
        "threads = [threading.Thread(target=load) for _ in range(8)]\n"
        "[t.start() for t in threads]\n"
        "[t.join() for t in threads]\n"
        "print(errors or sorted(u.facts()))\n"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['ContainerLegacy', 'File', 'Haresource', 'Membership']", out.stdout + out.stderr
