"""`make up`'s own path on real containers: the services it configures answer from the host.

A small fabric of its own (one resolver, one database: the lifecycle's fixture is not shared)
is brought up by exactly the action `make up` runs after starting the local fabric
(``ops.stack.cli.run_action(ws, "up")``: a preview from refreshed state, then an up), on its own
network ``10.80.LANE.0/24``. Then the host asks over the bridge: unbound on dns-1 resolves a name,
postgresql on db-1 answers, and both listen on loopback and the container's own address only
(never on every address), as the runtime role sets them up from the container's address.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from ops.localpve.lxc import LxcNode
from ops.stack.cli import run_action
from ops.stack.local import local_fabric
from tests.lane import loopback, lxc_tag, port, subnet

from .conftest import make_project, stack_body
from .probes import postgres_answers, resolve

STACK = "e2e-up"
NET = subnet(80)
DNS, DB = NET + "11", NET + "21"


@pytest.fixture(scope="module")
def made_up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LxcNode]:
    body = stack_body(NET, loopback(10), port(8090), "catalog.up.yaml")
    containers: dict[str, Any] = body["config"]["fabric:containers"]
    del containers["dns-2"]
    project = make_project(tmp_path_factory, STACK, body)
    fabric = local_fabric(
        project, STACK, pve_host=loopback(10), mirror_port=port(8090), teardown=True, lxc_tag=lxc_tag("u")
    )
    with fabric as (ws, pve):
        assert run_action(ws, "up") == 0
        assert pve.pve.lxc is not None
        yield pve.pve.lxc


def _listening(node: LxcNode, vmid: int, port: int) -> set[str]:
    """The local addresses a container's sockets listen on for ``port`` (``ss`` inside it)."""
    cmd = ["lxc-attach", "-n", node.name(vmid), "-P", str(node.lxcpath), "--", "ss", "-Hlntu"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True).stdout
    found = set()
    for line in out.splitlines():
        local = line.split()[4]
        address, _, bound = local.rpartition(":")
        if bound == str(port):
            found.add(address.strip("[]").split("%")[0])
    return found


def test_unbound_on_dns_resolves_from_the_host(made_up: LxcNode) -> None:
    assert resolve(DNS, "localhost.") == "127.0.0.1"
    assert _listening(made_up, 1101, 53) <= {"127.0.0.1", "::1", DNS}
    assert DNS in _listening(made_up, 1101, 53)


def test_postgresql_on_db_accepts_a_connection_from_the_host(made_up: LxcNode) -> None:
    assert postgres_answers(DB)
    assert _listening(made_up, 1201, 5432) <= {"127.0.0.1", "::1", DB}
    assert DB in _listening(made_up, 1201, 5432)
