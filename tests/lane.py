"""Test lanes: loopback addresses and ports per checkout, so checkouts testing side by side on one
machine never bind the same address.

``SAMAKIA_TEST_LANE`` (0-9; unset means 0, which is what CI uses) selects the lane. A lane moves
every loopback host a test binds from ``127.0.0.N`` to ``127.LANE.0.N`` (all of 127/8 is loopback on
Linux) and every port bound on 127.0.0.1 up by ``100 * LANE``.
"""

from __future__ import annotations

import os


def _lane() -> int:
    raw = os.environ.get("SAMAKIA_TEST_LANE", "0")
    if not raw.isdigit() or int(raw) > 9:
        raise SystemExit(f"SAMAKIA_TEST_LANE must be a digit 0-9, not {raw!r}")
    return int(raw)


LANE = _lane()


def loopback(last: int) -> str:
    """The lane's loopback address ending in ``last``."""
    return f"127.{LANE}.0.{last}"


def port(base: int) -> int:
    """The lane's port for a server bound on 127.0.0.1 whose lane-0 port is ``base``."""
    return base + 100 * LANE
