"""Pulumi's bridge around bpg's provider leaves in the local Proxmox what bpg's own main (through
OpenTofu) leaves: the same provider code on both sides, so a difference is the bridge's (how it
plans, fills in defaults and unknowns, reads back and records state), which no engine tier can
show because those run the bridged plugin alone.

For every step of the scenario (``tests/wire/drive.py``), the two runs' views must be equal: the
container's config (the generated MAC masked), its status and what the running container shows,
the HA entries, the pool, the volumes and templates; and the changing API calls with their
parameter names, in order for each object they change (``pve_view.by_object``). A change to either
side that makes them differ fails here. What the comparison leaves out, and why, is in
docs/engine.md ("The wire tier").
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.wire.drive import Run, Step
from tests.wire.pve_view import by_object, normalised

STEPS = ("create", "update", "refresh", "grow-refused", "refused", "replace", "unprotect", "grow", "destroy")


def _comparable(step: Step) -> dict[str, Any]:
    view = dict(step.view)
    view["config"] = normalised(view["config"])
    return view


@pytest.mark.parametrize("name", STEPS)
def test_the_local_proxmox_holds_the_same(upstream: Run, bridged: Run, name: str) -> None:
    assert _comparable(bridged.steps[name]) == _comparable(upstream.steps[name])


@pytest.mark.parametrize("name", STEPS)
def test_the_same_changing_calls_in_the_same_order(upstream: Run, bridged: Run, name: str) -> None:
    assert by_object(bridged.steps[name].writes) == by_object(upstream.steps[name].writes)
