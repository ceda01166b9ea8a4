"""The stand-in (through Pulumi) leaves in the local Proxmox what upstream (through OpenTofu) leaves.

For every step of the scenario (``tests/wire/drive.py``), the two runs' views must be equal: the
container's config (the generated MAC masked), its status and what the running container shows,
the HA entries, the pool, the volumes and templates; and the changing API calls, in order, with
their parameter names. A change to either side that makes them differ fails here. The differences
that remain are listed in ``KNOWN`` with their reason (and in docs/engine.md, "The wire tier"):
each is applied to the stand-in's record before comparing, so a new difference still fails, and a
known one that disappears fails too (its entry must then go).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.wire.drive import Run, Step
from tests.wire.pve_view import normalised

STEPS = ("create", "update", "refresh", "refused", "replace", "unprotect", "destroy")


@dataclass(frozen=True)
class Known:
    """A difference that remains, why, and how to bring the stand-in's record to upstream's."""

    steps: tuple[str, ...]
    reason: str
    writes: Callable[[list[str]], list[str]]


def _same(calls: list[str]) -> list[str]:
    return calls


#: Every remaining difference between the two runs' calls (docs/engine.md, "The wire tier").
KNOWN: tuple[Known, ...] = ()


def _comparable(step: Step) -> dict[str, Any]:
    view = dict(step.view)
    view["config"] = normalised(view["config"])
    return view


@pytest.mark.parametrize("name", STEPS)
def test_the_local_proxmox_holds_the_same(upstream: Run, standin: Run, name: str) -> None:
    assert _comparable(standin.steps[name]) == _comparable(upstream.steps[name])


@pytest.mark.parametrize("name", STEPS)
def test_the_same_changing_calls_in_the_same_order(upstream: Run, standin: Run, name: str) -> None:
    calls = list(standin.steps[name].writes)
    for known in KNOWN:
        if name in known.steps:
            fixed = known.writes(calls)
            assert fixed != calls, f"known difference no longer seen at {name}: {known.reason}"
            calls = fixed
    assert calls == upstream.steps[name].writes
