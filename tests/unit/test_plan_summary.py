"""The PR plan summary: replaces explained with the image change, retained deletes, blast radius."""

from __future__ import annotations

import json
from typing import Any

from fabric.tokens import CONTAINER, UNKNOWN
from ops.stack.plan_summary import summarize

P = "urn:pulumi:prod::samakia-fabric::samakia:fabric:Fleet$samakia:fabric:LxcContainer$"


def ct(name: str, op: str, old: str, new: str, node: str = "pve1") -> dict[str, Any]:
    def state(template: str) -> dict[str, Any]:
        return {"inputs": {"vmId": 1, "nodeName": node, "operatingSystem": {"templateFileId": template}}}

    return {
        "op": op,
        "urn": f"{P}{CONTAINER}::{name}",
        "oldState": state(old),
        "newState": state(new),
        "replaceReasons": ["operatingSystem"],
    }


def policy(name: str, identity: str) -> dict[str, Any]:
    return {
        "op": "replace",
        "urn": f"{P}command:local:Command::{name}-config",
        "newState": {"inputs": {"triggers": ["1", identity, "digest"]}},
        "replaceReasons": ["triggers"],
    }


V1 = "local:vztmpl/debian12-base_1.0.0_amd64.tar.zst"
V2 = "local:vztmpl/debian12-base_1.1.0_amd64.tar.zst"
GROUPS = {"dns-1": "dns", "dns-2": "dns", "db-1": "database", "db-2": "database"}


def test_known_template_change_is_named() -> None:
    s = summarize({"steps": [ct("db-1", "replace", V1, V2)]}, GROUPS)
    (change,) = s.changes
    assert change.image_change == ("debian12-base@1.0.0", "debian12-base@1.1.0")
    assert s.replaced == ["db-1"] and s.warnings == []
    assert "image debian12-base@1.0.0 -> debian12-base@1.1.0" in s.markdown()


def test_unknown_new_template_is_named_from_the_policy_trigger() -> None:
    steps = [ct("db-1", "replace", V1, UNKNOWN), policy("db-1", "debian12-base@1.1.0#sha256:ab")]
    (change,) = [c for c in summarize({"steps": steps}, GROUPS).changes if c.type == CONTAINER]
    assert change.image_change == ("debian12-base@1.0.0", "debian12-base@1.1.0")


def test_whole_replica_group_at_once_is_a_warning() -> None:
    steps = [ct("dns-1", "replace", V1, V2), ct("dns-2", "replace", V1, V2, node="pve2")]
    s = summarize({"steps": steps}, GROUPS)
    assert s.warnings == ["every member of replica group 'dns' (dns-1, dns-2) goes down at once"]
    assert summarize({"steps": steps[:1]}, GROUPS).warnings == []


def test_removed_template_is_reported_as_retained() -> None:
    step = {
        "op": "delete",
        "urn": "urn:pulumi:prod::samakia-fabric::proxmoxve:download/file:File::debian12-base-1.0.0-pve2",
        "oldState": {"retainOnDelete": True, "inputs": {}},
    }
    s = summarize({"steps": [step]}, GROUPS)
    assert s.changes[0].op == "forget" and "retained on storage" in s.markdown()


def test_no_changes() -> None:
    assert "No changes." in summarize({"steps": [{"op": "same", "urn": f"{P}{CONTAINER}::db-1"}]}, GROUPS).markdown()


def volume(container: str, op: str, old_node: str, new_node: str) -> dict[str, Any]:
    def state(node: str) -> dict[str, Any]:
        request = {"node": node, "storage": "local-zfs", "owner": 9000, "container": container, "name": "pgdata"}
        return {"inputs": {"stdin": json.dumps(request)}}

    return {
        "op": op,
        "urn": f"{P}samakia:fabric:DataVolume$command:local:Command::{container}-pgdata",
        "oldState": state(old_node),
        "newState": state(new_node),
    }


def test_a_container_moved_off_a_lost_node_is_named_with_what_happens_to_its_data() -> None:
    steps = [
        ct("db-1", "replace", V1, V1, node="pve2"),
        volume("db-1", "replace", "pve1", "pve2"),
        ct("dns-1", "replace", V1, V1, node="pve2"),
    ]
    steps[0]["oldState"]["inputs"]["nodeName"] = "pve1"
    steps[2]["oldState"]["inputs"]["nodeName"] = "pve1"
    s = summarize({"steps": steps}, GROUPS)
    moved = {c.name: c for c in s.changes if c.type == CONTAINER}
    assert moved["db-1"].move == ("pve1", "pve2")
    assert (
        moved["db-1"].why
        == "moves pve1 -> pve2; data: db-1-pgdata is a NEW EMPTY volume on pve2 (the old one stays on pve1)"
    )
    assert moved["dns-1"].why == "moves pve1 -> pve2; data: no data volume"
    assert "| dns-1 (ContainerLegacy) | replace | moves pve1 -> pve2; data: no data volume |" in s.markdown()
    # An image change on the same node is no move.
    (same_node,) = summarize({"steps": [ct("db-1", "replace", V1, V2)]}, GROUPS).changes
    assert same_node.move is None
