"""The bound on concurrent ansible-playbook runs: slots are exclusive, released, and configurable."""

from __future__ import annotations

import threading
from contextlib import ExitStack
from pathlib import Path

import pytest

from fabric.runtime.run_slots import SLOTS_ENV, run_slot, slot_count


def test_a_third_run_waits_until_a_slot_frees(tmp_path: Path) -> None:
    acquired = threading.Event()
    with ExitStack() as held:
        assert {held.enter_context(run_slot(tmp_path, 2)) for _ in range(2)} == {0, 1}

        def third() -> None:
            with run_slot(tmp_path, 2, poll_s=0.01):
                acquired.set()

        waiter = threading.Thread(target=third)
        waiter.start()
        assert not acquired.wait(0.3), "a third run started while both slots were held"
    # Both slots released by leaving the stack: the waiting run proceeds.
    assert acquired.wait(5)
    waiter.join(5)


def test_a_slot_is_released_when_the_run_fails(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), run_slot(tmp_path, 1):
        raise RuntimeError("ansible-playbook failed")
    with run_slot(tmp_path, 1) as index:
        assert index == 0


def test_slot_count_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SLOTS_ENV, "3")
    assert slot_count() == 3
    monkeypatch.delenv(SLOTS_ENV)
    assert slot_count() >= 1
    for bad in ("0", "two"):
        monkeypatch.setenv(SLOTS_ENV, bad)
        with pytest.raises(ValueError, match=SLOTS_ENV):
            slot_count()
