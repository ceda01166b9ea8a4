"""Test lanes (``SAMAKIA_TEST_LANE``): the tests' name for ``ops.localpve.lane``, which the benchmarks
use too, so both move their addresses the same way."""

from __future__ import annotations

from ops.localpve.lane import LANE, loopback, port

__all__ = ["LANE", "loopback", "port"]
