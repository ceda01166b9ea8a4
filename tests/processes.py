"""Processes a test started and must not leave behind."""

from __future__ import annotations

import os
import signal
from pathlib import Path


def reap_session(sid: int) -> None:
    """Kill what a killed run's session still holds: an SSH master that double-forked, or the engine's
    language host, which runs in a process group of its own and outlives a ``killpg`` of the engine."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if os.getsid(int(proc.name)) == sid:
                os.kill(int(proc.name), signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            continue
