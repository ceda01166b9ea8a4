"""Every tier binds addresses of its own.

``make test`` runs all tiers in one pytest session, where a session fixture (the e2e, fault, wire
and S3 tiers' local Proxmox) lives until the session ends. Two tiers naming the same lane
loopback address, mirror port or container network then collide, although each passes alone.
This reads the ``loopback(N)``, ``port(N)`` and ``subnet(N)`` calls under ``tests/`` and refuses
a value used by more than one file.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
CALL = re.compile(r"\b(loopback|port|subnet)\((\d+)\)")


def test_no_two_test_files_bind_the_same_address_port_or_network() -> None:
    users: dict[tuple[str, str], set[str]] = defaultdict(set)
    for path in TESTS.rglob("*.py"):
        if path.parent.name == "unit":
            continue  # unit tests compute lane values, they bind nothing
        for kind, value in CALL.findall(path.read_text()):
            users[(kind, value)].add(str(path.relative_to(TESTS)))
    shared = {f"{kind}({value})": sorted(files) for (kind, value), files in users.items() if len(files) > 1}
    assert shared == {}
    assert len(users) >= 10, "the scan found too few calls: did the helpers' names change?"
