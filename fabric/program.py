"""The Pulumi program: validate the stack's intent, guard the apply, compose the fleet."""

from __future__ import annotations

import os
from pathlib import Path

import pulumi

from .cancellation import quiet_when_stopped
from .fleet import Fleet
from .guard import decide
from .provider import proxmox_provider
from .stack_config import read_namespace
from .validation import ValidatedStack, validate


def load_fabric(project_dir: Path) -> ValidatedStack:
    """The running stack's validated intent; raises ``FabricConfigError`` before any resource.

    The stack's name takes part: a stack the project protects stays protected whatever its
    config says (``fabric.protection``).
    """
    raw, secret_keys = read_namespace()
    return validate(raw, project_dir=project_dir, secret_keys=secret_keys, stack=pulumi.get_stack())


def run(project_dir: Path) -> Fleet:
    """Everything ``__main__`` does, importable for tests and benchmarks."""
    quiet_when_stopped()  # a failed run's output ends with its error, not the program's shutdown traceback
    fabric = load_fabric(project_dir)
    decision = decide(pulumi.get_stack(), fabric.intent.protected, pulumi.runtime.is_dry_run(), os.environ)
    if decision.mode == "break-glass":
        pulumi.log.warn(f"BREAK-GLASS apply of '{decision.stack}' by {decision.actor}: {decision.reason}")
    provider = proxmox_provider("proxmox", fabric.intent.proxmox)
    fleet = Fleet("fabric", fabric, pulumi.ResourceOptions(providers=[provider]))
    for key, value in fleet.summary().items():
        pulumi.export(key, value)
    if decision.mode in ("main-ci", "break-glass"):
        # Who applied a protected stack, and why, stays in the stack's history.
        pulumi.export("applyGuard", decision.record())
    return fleet
