"""The apply guard: previews always, protected updates from main CI or recorded break-glass."""

from __future__ import annotations

import pytest

from fabric import ApplyRefused, decide
from fabric.ci_identity import IdentityError
from fabric.guard import BREAK_GLASS_VAR, ci_branch
from fabric.program import run
from fabric.testing import Recording, run_program

from .conftest import ROOT, deep_merge, engine_config, good_raw

MAIN_CI = {"CI": "true", "GITHUB_REF": "refs/heads/main", "GITHUB_EVENT_NAME": "push", "GITHUB_ACTOR": "ci-bot"}
CLAIMS = {"sub": "repo:samakia/samakia-fabric:environment:production", "run_id": "42", "actor": "merger"}


def proven(env: object) -> dict[str, str]:
    """A prover that found a valid OIDC token (tests/unit/test_ci_identity.py verifies real ones)."""
    return CLAIMS


def unproven(env: object) -> dict[str, str]:
    raise IdentityError("no GitHub OIDC token can be requested")


def test_preview_of_a_protected_stack_is_always_allowed() -> None:
    assert decide("prod", protected=True, dry_run=True, env={}).mode == "preview"


def test_unprotected_stack_applies_anywhere() -> None:
    assert decide("local", protected=False, dry_run=False, env={}).mode == "unprotected"


def test_main_branch_ci_may_apply_with_its_oidc_proof() -> None:
    decision = decide("prod", protected=True, dry_run=False, env=MAIN_CI, prove=proven)
    assert decision.mode == "main-ci" and decision.actor == "merger"
    assert decision.reason == "OIDC repo:samakia/samakia-fabric:environment:production, run 42"


@pytest.mark.parametrize(
    "env",
    [
        MAIN_CI,
        {"CI": "1", "SAMAKIA_CI_BRANCH": "main"},
        {"CI": "true", "CI_COMMIT_BRANCH": "main"},
        # Even the variables of a real job do not do: the token request fails without id-token: write.
        {**MAIN_CI, "ACTIONS_ID_TOKEN_REQUEST_URL": "", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": ""},
    ],
)
def test_variables_set_by_hand_never_satisfy_the_guard(env: dict[str, str]) -> None:
    """The real prover, no mocks: without the apply job's OIDC token, claiming main CI is refused."""
    with pytest.raises(ApplyRefused, match="claims to be main-branch CI, but no GitHub OIDC token"):
        decide("prod", protected=True, dry_run=False, env=env)


def test_an_unproven_main_ci_claim_may_still_break_glass() -> None:
    env = {**MAIN_CI, BREAK_GLASS_VAR: "INC-4713: the OIDC issuer is down, restore dns now"}
    assert decide("prod", protected=True, dry_run=False, env=env, prove=unproven).mode == "break-glass"


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
    """Named, then held to the same proof: only GitHub's OIDC token is verified today (docs/threat-model.md)."""
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
