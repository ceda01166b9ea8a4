"""Test lanes (``SAMAKIA_TEST_LANE``): the tests' name for ``ops.localpve.lane``, which the benchmarks
use too, so both move their addresses, networks and LXC names the same way."""

from __future__ import annotations

from ops.localpve.lane import LANE, loopback, lxc_tag, port, subnet

__all__ = ["LANE", "loopback", "lxc_tag", "port", "subnet"]
