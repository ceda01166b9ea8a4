"""The local fleet stack (``Pulumi.local-fleet.yaml``): valid, fleet-sized, and apart from the
local stack in every lane (its own Proxmox address, mirror port, network, state and LXC names)."""

from __future__ import annotations

import json

import yaml

from fabric.paths import PROJECT_ROOT
from fabric.stack_file import read_stack_file
from fabric.validation import validate
from ops.localpve.lane import lane_from, loopback, port, subnet
from ops.stack.local_stacks import FLEET_MIRROR, FLEET_NET, FLEET_PVE, LOCAL_STACKS, fleet_stack

FLEET = PROJECT_ROOT / "Pulumi.local-fleet.yaml"


def test_the_fleet_is_valid_and_fleet_sized() -> None:
    raw, secrets = read_stack_file(FLEET)
    raw["imageCatalog"] = "images/catalog.yaml"  # `make up` writes the local catalog; the versions are the same
    fabric = validate(raw, project_dir=PROJECT_ROOT, secret_keys=secrets, stack="local-fleet")
    containers = fabric.intent.containers
    assert len(containers) >= 24
    assert len({c.group for c in containers.values()}) >= 4
    assert len({c.policy for c in containers.values()}) >= 3


def test_the_fleet_never_shares_an_address_with_the_local_stack_in_any_lane() -> None:
    local_text = (PROJECT_ROOT / "Pulumi.local.yaml").read_text()
    local = yaml.safe_load(local_text)["config"]
    for lane in (0, lane_from("3"), 9):
        fleet = yaml.safe_load(fleet_stack(lane).rewrite(FLEET.read_text()))["config"]
        assert fleet["fabric:proxmox"]["endpoint"] == f"https://{loopback(FLEET_PVE, lane)}:8006/"
        assert fleet["fabric:imageMirror"] == f"http://127.0.0.1:{port(FLEET_MIRROR, lane)}"
        assert fleet["fabric:networks"]["lan"]["cidr"] == f"{subnet(FLEET_NET, lane)}0/24"
        addresses = {c["nic"]["address"] for c in fleet["fabric:containers"].values()}
        assert all(a.startswith(subnet(FLEET_NET, lane)) for a in addresses)
        assert fleet["fabric:proxmox"]["endpoint"] != local["fabric:proxmox"]["endpoint"]
        assert fleet["fabric:imageMirror"] != local["fabric:imageMirror"]
        assert fleet["fabric:networks"]["lan"]["cidr"] != local["fabric:networks"]["lan"]["cidr"]
        # Every mirror a policy names is on the fleet's own gateway.
        assert subnet(77, 0) not in json.dumps(fleet["fabric:policies"])
    runner = LOCAL_STACKS["local-fleet"]
    assert runner.state != LOCAL_STACKS["local"].state and runner.tag
    assert (runner.pve_host, runner.mirror_port) != (LOCAL_STACKS["local"].pve_host, LOCAL_STACKS["local"].mirror_port)
