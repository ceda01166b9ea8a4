"""A served stand-in provider exits, with the command it runs, when its engine dies (providers/base.py).

The engine here is a small Python process that starts ``python -m providers.command`` as the Pulumi
CLI starts a plugin (the leader of a process group of its own) and then is SIGKILLed. The engine
tier proves the same with the real CLI (tests/faults/test_processes.py).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

from providers.base import to_struct
from tests.processes import alive, read_proc

ROOT = Path(__file__).resolve().parents[2]
ENGINE = """
import subprocess, sys, time
provider = subprocess.Popen([sys.executable, "-m", "providers.command", "127.0.0.1:1"],
                            stdout=subprocess.PIPE, text=True, process_group=0)
print(provider.pid, provider.stdout.readline().strip(), flush=True)
time.sleep(600)
"""


def test_the_command_stand_in_and_its_running_command_exit_with_their_engine(tmp_path: Path) -> None:
    engine = subprocess.Popen(
        [sys.executable, "-c", ENGINE],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert engine.stdout is not None
    provider_pid, port = (int(v) for v in engine.stdout.readline().split())
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        pidfile = tmp_path / "command.pid"
        create = provider_pb2_grpc.ResourceProviderStub(channel).Create.future(
            provider_pb2.CreateRequest(
                urn="urn:pulumi:e2e::p::command:local:Command::slow",
                properties=to_struct({"create": f"echo $$ > {pidfile}; exec sleep 600"}),
            ),
            timeout=60,
        )
        give_up = time.monotonic() + 30
        while not (pidfile.exists() and pidfile.read_text().strip()):
            assert time.monotonic() < give_up and not create.done(), "the command did not start"
            time.sleep(0.05)
        provider, command = read_proc(provider_pid), read_proc(int(pidfile.read_text()))
        assert provider is not None and command is not None

        os.kill(engine.pid, signal.SIGKILL)
        engine.wait()
        give_up = time.monotonic() + 5  # the provider looks once a second
        while (left := [p for p in (provider, command) if alive(p)]) and time.monotonic() < give_up:
            time.sleep(0.1)
        assert not left, "still running after their engine died:\n" + "\n".join(str(read_proc(p.pid)) for p in left)
    finally:
        channel.close()
        for group in (engine.pid, provider_pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGKILL)
        engine.wait()
