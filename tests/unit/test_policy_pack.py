"""Each CrossGuard policy, called directly on resource inputs shaped as the program registers them."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from fabric.tokens import CONTAINER, FILE
from policy import rules

STACK = "ptest"
CATALOG = {
    "families": {
        "debian12-base": [
            {
                "version": "1.0.0",
                "file_name": "debian12-base_1.0.0_amd64.tar.zst",
                "sha256": "a" * 64,
                "size": 1,
                "sources": ["x"],
                "built_at": "2026-11-25T00:00:00Z",
                "git_commit": "0" * 40,
                "base_suite": "bookworm",
            }
        ]
    }
}
GOOD_CT: dict[str, Any] = {
    "nodeName": "pve1",
    "unprivileged": True,
    "protection": True,
    "tags": ["prod", "database"],
    "features": {"nesting": False},
}


@pytest.fixture(autouse=True)
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project with a protected stack file and its catalog; the pack reads them from the cwd."""
    (tmp_path / "catalog.yaml").write_text(yaml.safe_dump(CATALOG))
    config = {
        "fabric:protected": True,
        "fabric:imageCatalog": "catalog.yaml",
        "fabric:policies": {"database": {"profiles": ["postgresql"]}, "dns": {"profiles": ["dns"]}},
        "fabric:containers": {
            "db-1": {"group": "database", "policy": "database"},
            "db-2": {"group": "database", "policy": "database"},
            "dns-1": {"group": "dns", "policy": "dns"},
        },
    }
    (tmp_path / f"Pulumi.{STACK}.yaml").write_text(yaml.safe_dump({"config": config}))
    monkeypatch.chdir(tmp_path)
    rules.stack_facts.cache_clear()
    rules._load_settings.cache_clear()
    return tmp_path


def _opts(protect: bool = False) -> PolicyResourceOptions:
    return PolicyResourceOptions(protect, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


def _urn(typ: str, name: str) -> str:
    return f"urn:pulumi:{STACK}::samakia-fabric::{typ}::{name}"


def violations(policy: Any, typ: str, name: str, props: dict[str, Any], protect: bool = False) -> list[str]:
    found: list[str] = []
    args = ResourceValidationArgs(typ, props, _urn(typ, name), name, _opts(protect), None)
    policy.validate(args, lambda message, urn=None: found.append(message))
    return found


def ct(**changes: Any) -> dict[str, Any]:
    props = copy.deepcopy(GOOD_CT)
    props.update(changes)
    return props


def test_a_compliant_container_passes_every_resource_policy() -> None:
    for policy in rules.POLICIES:
        if isinstance(policy, rules.ResourceValidationPolicy):
            assert violations(policy, CONTAINER, "db-1", ct()) == [], policy.name


def test_privileged_container_needs_an_exception_with_a_reason(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    found = violations(rules.UNPRIVILEGED, CONTAINER, "db-1", ct(unprivileged=False))
    assert found and "db-1 is privileged" in found[0]
    settings = project / "settings.yaml"
    monkeypatch.setattr(rules, "SETTINGS_FILE", settings)
    settings.write_text(yaml.safe_dump({"privileged": {"db-1": "too short"}}))
    assert violations(rules.UNPRIVILEGED, CONTAINER, "db-1", ct(unprivileged=False)) != []
    rules._load_settings.cache_clear()
    settings.write_text(yaml.safe_dump({"privileged": {"db-1": "needs raw block devices for the NFS export"}}))
    assert violations(rules.UNPRIVILEGED, CONTAINER, "db-1", ct(unprivileged=False)) == []
    assert violations(rules.UNPRIVILEGED, CONTAINER, "db-2", ct(unprivileged=False)) != []


def test_templates_must_be_catalogued_with_their_checksum() -> None:
    good = {
        "contentType": "vztmpl",
        "fileName": "debian12-base_1.0.0_amd64.tar.zst",
        "checksum": "a" * 64,
        "checksumAlgorithm": "sha256",
    }
    assert violations(rules.CATALOGUED_TEMPLATES, FILE, "t", good) == []
    assert "sha256 checksum" in violations(rules.CATALOGUED_TEMPLATES, FILE, "t", {**good, "checksum": None})[0]
    wrong = violations(rules.CATALOGUED_TEMPLATES, FILE, "t", {**good, "checksum": "b" * 64})
    assert wrong and "not an entry of the stack's image catalog" in wrong[0]
    assert violations(rules.CATALOGUED_TEMPLATES, FILE, "t", {**good, "fileName": "other.tar.zst"}) != []


def test_no_plaintext_secret_in_any_input() -> None:
    key = "-----BEGIN OPENSSH " + "PRIVATE KEY-----\nabc\n"
    stdin = '{"vars": {"note": "' + "ci@pve!apply=" + "0" * 8 + "-0000-0000-0000-" + "0" * 12 + '"}}'
    found = violations(rules.NO_PLAINTEXT_SECRETS, "command:local:Command", "db-1-config", {"stdin": stdin})
    assert found and "'stdin.vars.note' holds a Proxmox API token" in found[0]
    assert "0000-0000" not in found[0]  # the value itself is never echoed
    found = violations(rules.NO_PLAINTEXT_SECRETS, CONTAINER, "db-1", ct(description=key))
    assert found and "private key" in found[0]
    provider = violations(rules.NO_PLAINTEXT_SECRETS, "pulumi:providers:proxmoxve", "proxmox", {"apiToken": "x"})
    assert provider and "enters state" in provider[0]
    assert violations(rules.NO_PLAINTEXT_SECRETS, "pulumi:providers:proxmoxve", "proxmox", {"endpoint": "x"}) == []


def test_no_plaintext_secret_walks_what_preview_knows() -> None:
    """During a preview the analyzer wraps inputs so that reading an unknown raises: the rule
    still checks every known value (lists included) and reports no failure to run."""
    key = "-----BEGIN OPENSSH " + "PRIVATE KEY-----\nabc\n"
    props = ct(
        operatingSystem={"templateFileId": UNKNOWN_STRING_VALUE},
        initialization={"userAccount": {"keys": ["ssh-ed25519 AAAA ok", key]}},
        stdin=UNKNOWN_STRING_VALUE,
    )
    found = violations(rules.NO_PLAINTEXT_SECRETS, CONTAINER, "db-1", unknown_checking_proxy(props))
    assert len(found) == 1 and "input 'initialization.userAccount.keys[1]' holds a private key" in found[0]
    clean = ct(stdin=UNKNOWN_STRING_VALUE, tags=["prod", UNKNOWN_STRING_VALUE])
    assert violations(rules.NO_PLAINTEXT_SECRETS, CONTAINER, "db-1", unknown_checking_proxy(clean)) == []


def test_required_tags_environment_and_group() -> None:
    assert "exactly one environment tag" in violations(rules.REQUIRED_TAGS, CONTAINER, "db-1", ct(tags=["database"]))[0]
    two = violations(rules.REQUIRED_TAGS, CONTAINER, "db-1", ct(tags=["prod", "local", "database"]))
    assert two and "exactly one" in two[0]
    missing_group = violations(rules.REQUIRED_TAGS, CONTAINER, "db-1", ct(tags=["prod"]))
    assert missing_group and "group's tag 'database'" in missing_group[0]


def test_stateful_groups_are_protected_in_protected_stacks(project: Path) -> None:
    found = violations(rules.STATEFUL_PROTECTION, CONTAINER, "db-1", ct(protection=False))
    assert found and "must have protection enabled" in found[0]
    assert violations(rules.STATEFUL_PROTECTION, CONTAINER, "db-1", ct(protection=False), protect=True) == []
    assert violations(rules.STATEFUL_PROTECTION, CONTAINER, "dns-1", ct(protection=False, tags=["prod", "dns"])) == []
    body = yaml.safe_load((project / f"Pulumi.{STACK}.yaml").read_text())
    body["config"]["fabric:protected"] = False
    (project / f"Pulumi.{STACK}.yaml").write_text(yaml.safe_dump(body))
    rules.stack_facts.cache_clear()
    assert violations(rules.STATEFUL_PROTECTION, CONTAINER, "db-1", ct(protection=False)) == []


def test_nesting_only_where_declared() -> None:
    found = violations(rules.DECLARED_NESTING, CONTAINER, "db-1", ct(features={"nesting": True}))
    assert found and "nesting" in found[0]


def test_replica_group_members_sit_on_distinct_nodes() -> None:
    def resource(name: str, node: str) -> PolicyResource:
        return PolicyResource(CONTAINER, ct(nodeName=node), _urn(CONTAINER, name), name, _opts(), None, None, [], {})

    found: list[str] = []
    args = StackValidationArgs([resource("db-1", "pve1"), resource("db-2", "pve1"), resource("dns-1", "pve1")])
    rules.DISTINCT_NODES.validate(args, lambda m, u=None: found.append(m))
    assert found == ["replica group 'database' has db-1, db-2 on the same node pve1"]
    found.clear()
    args = StackValidationArgs([resource("db-1", "pve1"), resource("db-2", "pve2")])
    rules.DISTINCT_NODES.validate(args, lambda m, u=None: found.append(m))
    assert found == []
