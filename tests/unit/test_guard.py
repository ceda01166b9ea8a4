"""The apply guard: previews always, protected updates from main CI or recorded break-glass."""

from __future__ import annotations

import pytest

from fabric import ApplyRefused, decide
from fabric.guard import BREAK_GLASS_VAR, ci_branch
from fabric.program import run
from fabric.testing import Recording, run_program

from .conftest import ROOT, deep_merge, engine_config, good_raw

MAIN_CI = {"CI": "true", "GITHUB_REF": "refs/heads/main", "GITHUB_EVENT_NAME": "push", "GITHUB_ACTOR": "ci-bot"}


def test_preview_of_a_protected_stack_is_always_allowed() -> None:
    assert decide("prod", protected=True, dry_run=True, env={}).mode == "preview"


def test_unprotected_stack_applies_anywhere() -> None:
    assert decide("local", protected=False, dry_run=False, env={}).mode == "unprotected"


def test_main_branch_ci_may_apply() -> None:
    decision = decide("prod", protected=True, dry_run=False, env=MAIN_CI)
    assert decision.mode == "main-ci" and decision.actor == "ci-bot"


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"CI": "true", "GITHUB_REF": "refs/heads/feature-x"},
        {"GITHUB_REF": "refs/heads/main"},  # not CI: a laptop with main checked out
        {**MAIN_CI, "GITHUB_EVENT_NAME": "pull_request"},
        {"CI": "true", "CI_COMMIT_BRANCH": "hotfix"},
    ],
)
def test_protected_update_outside_main_ci_is_refused(env: dict[str, str]) -> None:
    with pytest.raises(ApplyRefused, match="protected"):
        decide("prod", protected=True, dry_run=False, env=env)


def test_other_ci_systems_name_their_branch() -> None:
    assert ci_branch({"CI": "true", "CI_COMMIT_BRANCH": "main"}) == "main"
    assert ci_branch({"CI": "1", "BRANCH_NAME": "main"}) == "main"
    assert ci_branch({"CI_COMMIT_BRANCH": "main"}) is None


def test_break_glass_needs_a_real_reason() -> None:
    with pytest.raises(ApplyRefused, match="explain"):
        decide("prod", protected=True, dry_run=False, env={BREAK_GLASS_VAR: "urgent"})


def test_break_glass_is_recorded_in_outputs_and_log() -> None:
    reason = "INC-4711: restore db-2 after storage loss, CI runner down"
    decision = decide("prod", protected=True, dry_run=False, env={BREAK_GLASS_VAR: reason, "USER": "alice"})
    assert decision.record() == {
        "mode": "break-glass",
        "stack": "prod",
        "reason": reason,
        "actor": "alice",
        "at": decision.at,
    }


def apply_protected_stack() -> Recording:
    """``pulumi up`` (not a preview) of the reference stack marked protected, under mocks."""
    good, secret = good_raw()
    raw = deep_merge(good, {"protected": True})
    return run_program(
        lambda: run(ROOT), stack="prod", preview=False, config=engine_config(raw, secret), secret_keys=sorted(secret)
    )


def test_program_refuses_before_registering_anything(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("CI", "GITHUB_REF", BREAK_GLASS_VAR):
        monkeypatch.delenv(var, raising=False)
    registered: list[object] = []
    with pytest.raises(ApplyRefused):
        registered = apply_protected_stack().registered
    assert registered == []


def test_program_exports_and_logs_the_break_glass_record(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    reason = "INC-4712: CI runner lost, rotate edge certs now"
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv(BREAK_GLASS_VAR, reason)
    with caplog.at_level("WARNING"):
        rec = apply_protected_stack()
    assert rec.registered, "break-glass lets the update proceed"
    record = rec.stack_outputs["applyGuard"]
    assert record["mode"] == "break-glass" and record["reason"] == reason
    assert any("BREAK-GLASS" in m and reason in m for m in caplog.messages)
