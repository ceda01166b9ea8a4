"""The apply guard: protected stacks change only from main-branch CI, or by recorded break-glass.

Previews are always allowed: they are how a pull request shows its plan for review. "Main-branch
CI" is proven, not claimed: a run whose variables say so must also hold a GitHub OIDC token for the
protected apply job (``fabric.ci_identity``), so variables typed by hand never satisfy the guard.
What the guard can and cannot stop: docs/threat-model.md.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from .ci_identity import IdentityError, prove_apply_job
from .protection import APPLY_FROM

BREAK_GLASS_VAR = "SAMAKIA_BREAK_GLASS_REASON"
MIN_REASON = 15


class ApplyRefused(RuntimeError):
    """An update of a protected stack outside main-branch CI, without break-glass."""


@dataclass(frozen=True)
class ApplyDecision:
    """Why this run may proceed; exported and logged so the stack history keeps it."""

    mode: str
    """``preview``, ``unprotected``, ``main-ci`` (with the OIDC subject and run as ``reason``) or ``break-glass``."""
    stack: str
    """The stack being applied."""
    reason: str = ""
    """Why: the CI run and OIDC subject, or the break-glass reason the operator gave."""
    actor: str = ""
    """Who: the CI workflow's identity or the operator's name (break-glass)."""
    at: str = ""
    """When, UTC, ISO 8601."""

    def record(self) -> dict[str, str]:
        """The decision as plain data, for the stack output and the log."""
        return asdict(self)


def ci_branch(env: Mapping[str, str]) -> str | None:
    """The branch CI is building, from the variables the common CI systems set."""
    if env.get("CI", "").lower() not in ("true", "1"):
        return None
    ref = env.get("GITHUB_REF", "")
    if ref.startswith("refs/heads/"):
        return ref.removeprefix("refs/heads/")
    for var in ("CI_COMMIT_BRANCH", "BRANCH_NAME", "SAMAKIA_CI_BRANCH"):
        if env.get(var):
            return env[var]
    return None


Prove = Callable[[Mapping[str, str]], dict[str, Any]]


def _prove(env: Mapping[str, str]) -> dict[str, Any]:
    return prove_apply_job(env, APPLY_FROM)


def decide(stack: str, protected: bool, dry_run: bool, env: Mapping[str, str], prove: Prove = _prove) -> ApplyDecision:
    """Allow or refuse this run; raise ``ApplyRefused`` with what to do instead.

    ``prove`` returns the verified OIDC claims of the apply job or raises ``IdentityError``.
    """
    if dry_run:
        return ApplyDecision("preview", stack)
    if not protected:
        return ApplyDecision("unprotected", stack)
    actor = env.get("GITHUB_ACTOR") or env.get("GITLAB_USER_LOGIN") or env.get("USER") or getpass.getuser()
    now = datetime.now(UTC).isoformat(timespec="seconds")
    unproven = ""
    if ci_branch(env) == "main" and env.get("GITHUB_EVENT_NAME", "push") == "push":
        try:
            claims = prove(env)
        except IdentityError as exc:
            unproven = f" This run claims to be main-branch CI, but {exc}."
        else:
            proof = f"OIDC {claims.get('sub', '?')}, run {claims.get('run_id', '?')}"
            return ApplyDecision("main-ci", stack, reason=proof, actor=str(claims.get("actor") or actor), at=now)
    reason = env.get(BREAK_GLASS_VAR, "").strip()
    if reason:
        if len(reason) < MIN_REASON:
            raise ApplyRefused(f"{BREAK_GLASS_VAR} must explain the emergency (at least {MIN_REASON} characters)")
        return ApplyDecision("break-glass", stack, reason=reason, actor=actor, at=now)
    raise ApplyRefused(
        f"stack '{stack}' is protected: 'pulumi up' runs only from main-branch CI.{unproven} "
        f"Open a pull request (its preview is the reviewed plan), or in an emergency set "
        f"{BREAK_GLASS_VAR} to the reason; it is recorded in the stack's outputs and log."
    )
