"""A ConfigPolicy command's side of the warm controller: find it or start it, hand it one target.

:func:`run_through_controller` connects to the controller of this apply (the socket is named by
:func:`controller_socket`: the stack, the policy's files digest and the project, under
``.state/controllers/``, a directory only the apply's user can open), starting it when there is
none, sends the resolved target and its variables, and waits for that target's own recap.
:class:`ControllerUnavailable` means the command should run on its own (the runner does, and
says so). The server is :mod:`fabric.runtime.controller`.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fabric.runtime.ansible_run import AnsibleRunError, Recap, Target, recap_from_dict
from fabric.runtime.controller import IDLE_S, MAX_WAIT_S, WINDOW_S, private_dir, socket_address, target_to_dict

CONTROLLER_ENV = "SAMAKIA_ANSIBLE_CONTROLLER"
"""``off`` runs every command on its own (today's one-process path)."""
DIR_ENV = "SAMAKIA_CONTROLLER_DIR"
"""Where the sockets go (default ``.state/controllers`` under the Pulumi project)."""
STACK_ENV = "SAMAKIA_STACK"
"""The stack being applied: set by ``python -m ops.stack`` for the engine and its commands."""
SOCKET_ENV = "SAMAKIA_CONTROLLER_SOCKET"
"""Set in the controller's environment (so in every process it starts): names the controller."""
START_TIMEOUT_S = 15.0


class ControllerUnavailable(RuntimeError):
    """No warm controller could serve this command: it runs on its own instead."""


@dataclass(frozen=True)
class ControllerKey:
    """What a controller is shared by: one stack, one policy version, one project."""

    stack: str
    files_digest: str
    project: Path

    def name(self) -> str:
        """Short, filesystem-safe, and different whenever any part differs."""
        raw = f"{self.stack}\0{self.files_digest}\0{self.project.resolve()}"
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in self.stack)[:24]
        return f"{safe}-{hashlib.sha256(raw.encode()).hexdigest()[:16]}"


def controller_socket(key: ControllerKey, env: Mapping[str, str] | None = None) -> Path:
    """The socket of ``key``'s controller."""
    env = os.environ if env is None else env
    directory = Path(env.get(DIR_ENV) or key.project / ".state" / "controllers")
    return directory / f"{key.name()}.sock"


def enabled(env: Mapping[str, str] | None = None) -> bool:
    """False when ``$SAMAKIA_ANSIBLE_CONTROLLER`` is ``off``."""
    return (os.environ if env is None else env).get(CONTROLLER_ENV, "on").strip().lower() != "off"


@contextlib.contextmanager
def _start_lock(path: Path) -> Iterator[None]:
    fd = os.open(path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _connect(path: Path) -> socket.socket | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        with socket_address(path) as address:
            sock.connect(address)
    except (FileNotFoundError, ConnectionRefusedError):
        sock.close()
        return None
    return sock


def _spawn(path: Path, env: Mapping[str, str]) -> None:
    """Start the controller detached: its own session, stdin ``/dev/null``, its log beside the socket."""
    server_env = {**env, SOCKET_ENV: str(path)}
    log = os.open(path.with_suffix(".log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "fabric.runtime.controller",
                "--socket",
                str(path),
                "--idle",
                env.get("SAMAKIA_CONTROLLER_IDLE_S", str(IDLE_S)),
                "--window",
                env.get("SAMAKIA_CONTROLLER_WINDOW_S", str(WINDOW_S)),
                "--max-wait",
                env.get("SAMAKIA_CONTROLLER_MAX_WAIT_S", str(MAX_WAIT_S)),
            ],
            cwd=str(Path(__file__).resolve().parents[2]),
            env=server_env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    finally:
        os.close(log)


def connect_or_start(path: Path, env: Mapping[str, str] | None = None) -> socket.socket:
    """A connection to the controller at ``path``, started first when none answers."""
    env = os.environ if env is None else env
    try:
        private_dir(path.parent)
    except OSError as err:
        raise ControllerUnavailable(str(err)) from err
    sock = _connect(path)
    if sock is not None:
        return sock
    with _start_lock(path):
        sock = _connect(path)  # another command may have started it meanwhile
        if sock is not None:
            return sock
        _spawn(path, env)
        deadline = time.monotonic() + float(env.get("SAMAKIA_CONTROLLER_START_S", START_TIMEOUT_S))
        while time.monotonic() < deadline:
            sock = _connect(path)
            if sock is not None:
                return sock
            time.sleep(0.02)
    raise ControllerUnavailable(f"the controller did not start within its bound (see {path.with_suffix('.log')})")


def _read_line(sock: socket.socket) -> dict[str, Any] | None:
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(65536)
        if not chunk:
            return None
        data += chunk
    body = json.loads(data)
    return body if isinstance(body, dict) else None


@dataclass(frozen=True)
class ControllerResult:
    """This command's recap, and the batch it ran in."""

    recap: Recap
    batch: int
    size: int


class ControllerSession:
    """One command's connection to its controller, opened before the target is resolved.

    Connecting early tells the controller that this command is on its way, so a batch waits for
    the commands started with it (while each waits for its container's sshd) instead of leaving
    without them. Close it (or use ``with``) when the command ends.
    """

    def __init__(self, key: ControllerKey, env: Mapping[str, str] | None = None) -> None:
        """Connect to ``key``'s controller, starting it when none answers (:class:`ControllerUnavailable`)."""
        self.env = os.environ if env is None else env
        self.path = controller_socket(key, self.env)
        self.sock: socket.socket | None = connect_or_start(self.path, self.env)

    def __enter__(self) -> ControllerSession:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def run(
        self, target: Target, playbook: str | Path, variables: Mapping[str, Any], *, check: bool = False
    ) -> ControllerResult:
        """Run ``playbook`` on ``target`` in the controller's next batch.

        Raises :class:`ControllerUnavailable` when no controller accepted the request (nothing
        ran: run on your own), :class:`AnsibleRunError` when one accepted it and then could not
        run it.
        """
        request = {"target": target_to_dict(target), "vars": dict(variables), "playbook": str(playbook), "check": check}
        for attempt in range(2):
            if self.sock is None or attempt:
                self.close()
                self.sock = connect_or_start(self.path, self.env)
            try:
                self.sock.sendall(json.dumps(request).encode() + b"\n")
                ack = _read_line(self.sock)
            except OSError:
                ack = None
            if ack is None:
                continue  # a server that was closing as we connected: start another one
            if not ack.get("accepted"):
                raise ControllerUnavailable(str(ack.get("error", "the controller refused the request")))
            answer = _read_line(self.sock)
            self.close()
            if answer is None:
                raise AnsibleRunError("the warm controller went away before answering (see its log beside the socket)")
            if not answer.get("ok"):
                raise AnsibleRunError(str(answer.get("error", "the batch could not run")))
            return ControllerResult(recap_from_dict(answer["recap"]), int(answer["batch"]), int(answer["size"]))
        raise ControllerUnavailable("the controller closed twice before accepting the request")


def run_through_controller(
    key: ControllerKey,
    target: Target,
    playbook: str | Path,
    variables: Mapping[str, Any],
    *,
    check: bool = False,
    env: Mapping[str, str] | None = None,
) -> ControllerResult:
    """Connect to ``key``'s controller and run ``playbook`` on ``target`` in its next batch."""
    with ControllerSession(key, env) as session:
        return session.run(target, playbook, variables, check=check)
