"""The bridged plugin's schema, held to the ``pulumi_proxmoxve`` 8.6.0 SDK the program imports (issue 27).

The plugin every engine run uses is the project's build of bpg's provider through Pulumi's bridge
(``scripts/proxmoxve/``); the program is written against the published Python SDK. Whatever the
plugin's ``GetSchema`` says must be what that SDK says:

- every resource and function token, both ways;
- for what the fabric uses (the provider config, ``ContainerLegacy``, ``Haresource``,
  ``download.File``, ``pool.Membership``): every input's name, type, required and secret flag, every
  output's name, type, required and secret flag, and every nested type they reach, recursively
  (name, type, required).

Each difference is one line naming itself (``tests/provider/schema_compare.py``); the test fails once
with all of them.
"""

from __future__ import annotations

import copy
import importlib.metadata
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pulumi_proxmoxve
import pytest

from tests.provider.schema_compare import PACKAGE, PROVIDER, Report, Sdk, compare_resource, compare_tokens

SDK_VERSION = "8.6.0"
# What the plugin must be built from (scripts/proxmoxve/go.mod; issue 27).
MODULES = {
    "github.com/bpg/terraform-provider-proxmox": "v0.112.0",
    "github.com/pulumi/pulumi-terraform-bridge/v3": "v3.137.0",
}
# The resources the fabric creates (fabric/provider.py, container.py, image.py), by the name a
# difference is reported under.
FABRIC = {
    "Provider": PROVIDER,
    "ContainerLegacy": "proxmoxve:index/containerLegacy:ContainerLegacy",
    "Haresource": "proxmoxve:index/haresource:Haresource",
    "download.File": "proxmoxve:download/file:File",
    "pool.Membership": "proxmoxve:pool/membership:Membership",
}


@pytest.fixture(scope="module")
def sdk() -> Sdk:
    """The SDK the program imports, parsed from its installed sources."""
    assert importlib.metadata.version("pulumi_proxmoxve") == SDK_VERSION
    return Sdk(Path(pulumi_proxmoxve.__file__).parent)


def compare(schema: dict[str, Any], sdk: Sdk) -> Report:
    """Everything this tier holds the schema to."""
    report = Report()
    if schema.get("name") != PACKAGE:
        report.differences.append(f"package name: schema says {schema.get('name')!r}, SDK says {PACKAGE!r}")
    compare_tokens(report, "resource", set(schema.get("resources", {})), sdk.resource_tokens())
    compare_tokens(report, "function", set(schema.get("functions", {})), sdk.functions)
    for label, token in FABRIC.items():
        compare_resource(report, schema, sdk, token, label)
    return report


def test_plugin_is_built_from_bpg_and_the_bridge(plugin: Path) -> None:
    """``go version -m`` on the plugin names bpg v0.112.0 and bridge v3.137.0 among its modules."""
    go = shutil.which("go") or "/usr/local/go/bin/go"
    out = subprocess.run([go, "version", "-m", str(plugin)], capture_output=True, text=True, check=True).stdout
    found = {}
    for line in out.splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[0] in {"dep", "mod"}:
            found[fields[1]] = fields[2]
    for module, version in MODULES.items():
        assert found.get(module) == version, f"{plugin} has {module} {found.get(module)}, expected {version}:\n{out}"


def test_plugin_reports_the_sdk_version(plugin_version: str) -> None:
    """The plugin says it is the version the SDK's pulumi-plugin.json names (what the engine asks for)."""
    meta = json.loads((Path(pulumi_proxmoxve.__file__).parent / "pulumi-plugin.json").read_text())
    assert (meta["name"], meta["version"]) == (PACKAGE, SDK_VERSION)
    assert plugin_version == SDK_VERSION


def test_schema_matches_the_sdk(schema: dict[str, Any], sdk: Sdk) -> None:
    """Every token, and every property and nested type of what the fabric uses, as the SDK has them."""
    report = compare(schema, sdk)
    print(f"compared {report.summary()}")
    # The comparison must have looked at something: the SDK registers 115 resources and 91 functions.
    assert report.resource_tokens >= 115 and report.function_tokens >= 91, report.summary()
    assert report.nested_types, report.summary()
    assert not report.differences, (
        f"{len(report.differences)} differences between the plugin's schema and pulumi_proxmoxve {SDK_VERSION} "
        f"({report.summary()}):\n" + "\n".join(report.differences)
    )


def test_a_difference_names_itself(schema: dict[str, Any], sdk: Sdk) -> None:
    """A schema changed in four places reports exactly those (the DNS type on both sides), each by its path."""
    changed = copy.deepcopy(schema)
    dns = "proxmoxve:index/ContainerLegacyInitializationDns:ContainerLegacyInitializationDns"
    dns_token = next(t for t in changed["types"] if t.lower() == dns.lower())
    changed["types"][dns_token]["properties"]["servers"]["items"] = {"type": "integer"}
    changed["resources"][FABRIC["Haresource"]]["requiredInputs"].remove("resourceId")
    changed["provider"]["inputProperties"]["password"].pop("secret")
    del changed["functions"]["proxmoxve:index/getVersion:getVersion"]

    baseline = set(compare(schema, sdk).differences)
    report = compare(changed, sdk)
    assert sorted(set(report.differences) - baseline) == sorted(
        [
            "ContainerLegacy input initialization.dns.servers: schema says array<integer>, SDK says array<string>",
            "ContainerLegacy output initialization.dns.servers: schema says array<integer>, SDK says array<string>",
            "Haresource input resourceId: schema says optional, SDK says required",
            "Provider input password: schema says not secret, SDK says secret",
            "function token proxmoxve:index/getVersion:getVersion: in the SDK, not in the schema",
        ]
    ), "\n".join(sorted(set(report.differences) - baseline))
