"""The program's end when the engine stops a run early: quiet, unless a person asks for the traceback.

When a resource fails, the engine ends the update and shuts its language host down with SIGINT to
the host's whole process group (pulumi/pulumi sdk/v3 v3.272.0 go/common/resource/plugin/plugin.go,
``Close``, and go/common/util/cmdutil/term_unix.go, ``shutdownProcessGroup``), the Python program
included. Python turns that into ``KeyboardInterrupt`` in the middle of the SDK's event loop; its
traceback, followed by ``RuntimeError: no running event loop`` from the threads the loop leaves
behind, reached the run's output as the stack's diagnostics and buried the one line that matters
(the failed resource and Proxmox's message).

The engine sends that signal only to stop the program (a person's Ctrl-C reaches the CLI, in the
terminal's process group, not the host's), so the program leaves at once and says nothing: what the
program registered is already the engine's. ``SAMAKIA_DEBUG=1`` (the stack runner's ``--debug``
sets it) keeps Python's default, traceback and all.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from types import FrameType

DEBUG_ENV = "SAMAKIA_DEBUG"
"""``1``: show the program's own tracebacks (the stack runner's ``--debug`` sets it)."""
EXEC_SCRIPT = "pulumi-language-python-exec"
"""The script the language host runs the program in (``sys.argv[0]`` of the program's process)."""
EXIT_INTERRUPTED = 130
"""128 + SIGINT, as a shell reports a process a SIGINT ended."""


def _leave_quietly(signum: int, frame: FrameType | None) -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # the engine may have closed the pipe already
            stream.flush()
    os._exit(EXIT_INTERRUPTED)


def quiet_when_stopped(environ: Mapping[str, str] = os.environ, argv0: str | None = None) -> bool:
    """Leave without a traceback on the engine's SIGINT, unless ``SAMAKIA_DEBUG=1``; whether it is installed.

    Only in a program the language host runs: under mocks (tests, ``fabric.testing``) the process
    is the caller's, whose Ctrl-C stays its own.
    """
    script = Path(argv0 if argv0 is not None else (sys.argv[0] if sys.argv else "")).name
    if script != EXEC_SCRIPT or environ.get(DEBUG_ENV) == "1":
        return False
    if threading.current_thread() is not threading.main_thread():
        return False
    signal.signal(signal.SIGINT, _leave_quietly)
    return True
