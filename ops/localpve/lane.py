"""Lanes: loopback addresses and ports per checkout, so checkouts running the local Proxmox side by
side on one machine (tests, benchmarks) never bind the same address.

``SAMAKIA_TEST_LANE`` (0-9; unset means 0, which is what CI uses) selects the lane. A lane moves
every loopback host from ``127.0.0.N`` to ``127.LANE.0.N`` (all of 127/8 is loopback on Linux) and
every port bound on 127.0.0.1 up by ``100 * LANE``. The same goes for what a test or benchmark
creates on the host: a container network ``10.X.0.0/24`` becomes ``10.X.LANE.0/24``
(:func:`subnet`), and the names of its LXC containers, bridges and LXC path carry :func:`lxc_tag`.
Lane 0 keeps the old addresses.
"""

from __future__ import annotations

import os


def lane_from(raw: str | None) -> int:
    """The lane named by the value of ``SAMAKIA_TEST_LANE`` (``None`` or empty: lane 0)."""
    raw = raw or "0"
    if not raw.isdigit() or int(raw) > 9:
        raise SystemExit(f"SAMAKIA_TEST_LANE must be a digit 0-9, not {raw!r}")
    return int(raw)


LANE = lane_from(os.environ.get("SAMAKIA_TEST_LANE"))


def loopback(last: int, lane: int = LANE) -> str:
    """The lane's loopback address ending in ``last``."""
    return f"127.{lane}.0.{last}"


def port(base: int, lane: int = LANE) -> int:
    """The lane's port for a server bound on 127.0.0.1 whose lane-0 port is ``base``."""
    return base + 100 * lane


def subnet(second: int, lane: int = LANE) -> str:
    """The first three octets (with the trailing dot) of the lane's ``10.second.LANE.0/24`` network."""
    return f"10.{second}.{lane}."


def lxc_tag(kind: str, lane: int = LANE) -> str:
    """The tag a test's local fabric puts in its containers', bridges' and LXC path's names."""
    return f"{kind}{lane}"
