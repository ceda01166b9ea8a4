"""Which stacks are protected: keyed on the stack's name in the committed code, not on config.

``fabric:protected: true`` in a stack file can add protection, but nothing the person running
``pulumi up`` passes (``-c fabric:protected=false``, an edited working copy of the stack file)
can take it away from a stack named here: the validation refuses the run instead.
"""

from __future__ import annotations

from .ci_identity import ApplyFrom

PROTECTED_STACKS = frozenset({"prod"})
"""Stacks whose updates run only from main-branch CI (or recorded break-glass). Changing this
set is a code change: reviewed in a pull request like any other."""


def is_protected(stack: str | None, configured: bool) -> bool:
    """Protection of ``stack``: the committed set, or the stack file's ``fabric:protected``."""
    return configured or (stack is not None and stack in PROTECTED_STACKS)


APPLY_FROM = ApplyFrom(repository="samakia/samakia-fabric")
"""The one job allowed to apply a protected stack without break-glass, as its GitHub OIDC token must
name it: this repository, ``refs/heads/main``, a push, the ``production`` environment (which alone
holds the apply token). Set ``repository`` to where the project lives; changing it is a reviewed change."""
