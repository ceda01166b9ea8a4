"""The chaos schedule's decisions: seeded, independent of arrival order, capped, off by default."""

from __future__ import annotations

from typing import Any

import pytest

from ops.localpve.chaos_schedule import BackupLock, ChaosLedger, ChaosSchedule, Unreachable, draw
from ops.localpve.services import CHAOS_ENV, start_chaos_from

CALLS = [("GET", f"/api2/json/nodes/pve1/lxc/{v}/status/current") for v in range(100, 140)]


def transient_hits(schedule: ChaosSchedule, calls: list[tuple[str, str]]) -> set[str]:
    ledger = ChaosLedger(schedule)
    return {f"{m} {p}" for m, p in calls if ledger.transient(m, p) is not None}


def test_a_decision_depends_on_the_seed_and_the_call_not_on_arrival_order() -> None:
    schedule = ChaosSchedule(seed=3, transient_rate=0.25)
    forward, backward = transient_hits(schedule, CALLS), transient_hits(schedule, CALLS[::-1])
    assert forward == backward and 0 < len(forward) < len(CALLS)
    assert transient_hits(ChaosSchedule(seed=4, transient_rate=0.25), CALLS) != forward
    assert draw(1, "k", "x", 0) == draw(1, "k", "x", 0) != draw(1, "k", "x", 1)


def test_the_limit_caps_each_kind_and_the_login_is_never_disturbed() -> None:
    ledger = ChaosLedger(ChaosSchedule(transient_rate=1.0, limit=2))
    assert ledger.transient("POST", "/api2/json/access/ticket") is None
    hits = [ledger.transient(m, p) for m, p in CALLS[:5]]
    assert sum(h is not None for h in hits) == 2 and hits[2:] == [None, None, None]


def test_only_the_listed_methods_get_transient_errors() -> None:
    ledger = ChaosLedger(ChaosSchedule(transient_rate=1.0, transient_methods=("PUT",)))
    assert ledger.transient("GET", "/api2/json/nodes/pve1/lxc/101/config") is None
    message = ledger.transient("PUT", "/api2/json/nodes/pve1/lxc/101/config")
    assert message is not None and ("101" in message or "cfs-lock" in message)


def test_an_unreachable_window_counts_the_calls_to_its_node_only() -> None:
    ledger = ChaosLedger(ChaosSchedule(unreachable=Unreachable("pve2", after=2, calls=2)))
    got = [ledger.unreachable("GET", "/x", node) for node in ["pve2", "pve1", "pve2", "pve2", "pve1", "pve2", "pve2"]]
    assert got == [None, None, None, "595", None, "595", None]


def test_tasks_fail_or_slow_down_by_type_and_occurrence() -> None:
    schedule = ChaosSchedule(failed_rate=1.0, failed_types=("vzcreate",), slow_rate=1.0, slow_seconds=3, limit=1)
    ledger = ChaosLedger(schedule)
    message = "unable to create CT 1201 - cfs-lock 'storage-local-lvm' error: got lock request timeout"
    assert ledger.task("vzcreate", "1201") == (3, message)
    assert ledger.task("vzcreate", "1201") == (0.0, None)  # the limit: one of each
    assert ledger.task("vzstart", "1201") == (0.0, None)
    assert [i.kind for i in ledger.injected] == ["slow", "failed"]


def test_the_json_form_round_trips_and_refuses_unknown_fields_and_bad_rates() -> None:
    schedule = ChaosSchedule(seed=5, transient_rate=0.1, unreachable=Unreachable("pve1"), backup=BackupLock(1101, 30))
    assert ChaosSchedule.from_json(schedule.to_json()) == schedule
    with pytest.raises(ValueError, match="unknown chaos schedule field"):
        ChaosSchedule.from_json('{"transientRate": 0.1}')
    with pytest.raises(ValueError, match="between 0 and 1"):
        ChaosSchedule(transient_rate=2.0)
    with pytest.raises(ValueError, match="'595' or 'reset'"):
        Unreachable("pve1", how="drop")


def test_the_local_fabric_starts_no_chaos_unless_the_environment_names_a_schedule() -> None:
    class Pve:
        def __init__(self) -> None:
            self.calls: list[Any] = []

        def call(self, fn: Any) -> None:
            self.calls.append(fn)

    pve = Pve()
    start_chaos_from(pve, {})
    start_chaos_from(pve, {CHAOS_ENV: ""})
    assert pve.calls == []
    start_chaos_from(pve, {CHAOS_ENV: '{"seed": 1, "transient_rate": 0.05}'})
    assert len(pve.calls) == 1
