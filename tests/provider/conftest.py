"""The provider tier's fixtures: the bridged ``pulumi-resource-proxmoxve`` plugin and its schema.

The plugin is the project's build (``scripts/proxmoxve.sh``: cached by version, built here when it is
missing, never skipped). The schema is what the running plugin answers to ``GetSchema`` over gRPC,
through the stubs the ``pulumi`` Python SDK ships; the plugin is started with no engine address
(attach mode: it prints its port and serves) and stopped at the end, also on failure.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60.0  # seconds for the plugin to print its port (an 81 MB binary, a loaded machine)
SCHEMA_TIMEOUT = 120.0
MAX_MESSAGE = 256 * 1024 * 1024  # the schema is several MB; gRPC's default limit is 4 MB


@pytest.fixture(scope="session")
def plugin() -> Path:
    """The plugin binary (``scripts/proxmoxve.sh`` prints its path; a cold build takes minutes)."""
    result = subprocess.run(
        [str(ROOT / "scripts" / "proxmoxve.sh")], capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False
    )
    if result.returncode != 0:
        pytest.fail(f"scripts/proxmoxve.sh failed (it builds the bridged plugin):\n{result.stderr[-3000:]}")
    path = Path(result.stdout.strip().splitlines()[-1])
    assert path.is_file(), f"scripts/proxmoxve.sh printed {path}, which is not a file"
    return path


def _port(proc: subprocess.Popen[bytes], stderr: Path) -> int:
    """The port the plugin prints on its first line of stdout."""
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + START_TIMEOUT
    line = b""
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not sel.select(left):
            raise AssertionError(f"the plugin printed no port in {START_TIMEOUT:.0f}s:\n{stderr.read_text()[-3000:]}")
        chunk = os.read(proc.stdout.fileno(), 64)
        if not chunk:
            raise AssertionError(f"the plugin exited ({proc.wait()}) before its port:\n{stderr.read_text()[-3000:]}")
        line += chunk
    return int(line.split(b"\n", 1)[0].strip())


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGINT (the engine's way: a graceful stop), then SIGKILL if it lingers."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


@pytest.fixture(scope="session")
def running_plugin(plugin: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """The plugin, serving; yields its port."""
    stderr = tmp_path_factory.mktemp("plugin") / "stderr.log"
    with stderr.open("wb") as err:
        proc = subprocess.Popen([str(plugin)], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
    try:
        yield _port(proc, stderr)
    finally:
        _stop(proc)


@pytest.fixture(scope="session")
def schema(running_plugin: int) -> dict[str, Any]:
    """The plugin's answer to ``GetSchema`` (version 0), parsed."""
    options = [("grpc.max_receive_message_length", MAX_MESSAGE)]
    with grpc.insecure_channel(f"127.0.0.1:{running_plugin}", options=options) as channel:
        stub = provider_pb2_grpc.ResourceProviderStub(channel)
        response = stub.GetSchema(provider_pb2.GetSchemaRequest(version=0), timeout=SCHEMA_TIMEOUT)
    parsed: dict[str, Any] = json.loads(response.schema)
    return parsed


@pytest.fixture(scope="session")
def plugin_version(running_plugin: int) -> str:
    """The version the plugin reports (``GetPluginInfo``), the one the engine matches plugins by."""
    with grpc.insecure_channel(f"127.0.0.1:{running_plugin}") as channel:
        stub = provider_pb2_grpc.ResourceProviderStub(channel)
        info = stub.GetPluginInfo(empty_pb2.Empty(), timeout=SCHEMA_TIMEOUT)
    return str(info.version)
