"""The warm Ansible controller: one process per apply that batches the ConfigPolicy commands.

Pulumi starts one ``python3 -m fabric.runtime.apply_policy`` per container, and each used to
start its own ``ansible-playbook``: N containers paid the controller's start (imports, parsing
the playbook and roles, forking workers, opening connections) N times. Here the first command of
an apply starts this server (``python3 -m fabric.runtime.controller``, detached, stdin
``/dev/null``); every command of the apply hands it its resolved target and variables over a
Unix socket and waits.

A command connects as soon as it starts, before it waits for its container's sshd and pins its
host key, so the server knows which commands are still on their way. Requests that arrive close
together (until no connected command is still resolving its target and ``window_s`` passed
without a new one, at most ``max_wait_s``) become **one** ``ansible-playbook`` over an inventory
holding exactly those targets, each with its own variables as inventory host variables, run with
one fork per target (:func:`fabric.runtime.ansible_run.run_playbook`, holding one run slot).
Each command gets back only its own host's recap
(:func:`~fabric.runtime.ansible_run.host_recap`), so Pulumi's per-container create, retry and
replace are unchanged.

Why a fresh ``ansible-playbook`` per batch rather than a play run in this process
(``ansible.executor.playbook_executor.PlaybookExecutor`` over an ``InventoryManager`` built in
memory): reading ansible-core 2.19's ``executor/playbook_executor.py``,
``executor/task_queue_manager.py`` and ``cli/playbook.py``, an in-process run reads its options
from the process-global ``ansible.context.CLIARGS`` (set once, by the CLI), its configuration
from the global ``ansible.constants``/config manager, and loads plugins through module-global
loaders and caches. ``TaskQueueManager.cleanup()`` ends its workers, but Mitogen's strategy
starts its connection multiplexers once per controller process and shuts them down only from an
``atexit`` handler (``ansible_mitogen/process.py``, ``ClassicWorkerModel``). A process that
outlives one play would therefore carry options, plugin state and open connections from one
batch into the next, and a replaced container at the same address could be reached through a
connection opened to its predecessor. The cost the batch removes is the one that grows with N
(one controller start per container); what is left, one start per batch, is what plain
``ansible-playbook -f N`` pays as well (``docs/benchmarks.md``, "Configuration at fleet scale").

Lifetime and access: the socket lies in a directory only the apply's user can open (0700,
checked), the server accepts only peers of its own uid (``SO_PEERCRED``), and it is keyed by
stack and policy digest (:mod:`fabric.runtime.controller_client`). It exits after ``idle_s``
without a request, and at once when a batch was cancelled because every command waiting on it
went away (an interrupted apply): it kills the batch's ``ansible-playbook`` and every process
that one started. Imports only ``fabric.runtime`` and ``fabric``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import struct
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fabric.runtime.ansible_run import (
    AnsibleRunError,
    ChrootTarget,
    SshTarget,
    Target,
    host_recap,
    recap_to_dict,
    run_playbook,
)

IDLE_S = 30.0
"""Seconds without a request after which the controller exits (``SAMAKIA_CONTROLLER_IDLE_S``)."""
WINDOW_S = 0.5
"""A batch starts once no request arrived for this long and no connected command is still
resolving its target (``SAMAKIA_CONTROLLER_WINDOW_S``)..."""
MAX_WAIT_S = 10.0
"""... or this long after its first request, whichever comes first (``SAMAKIA_CONTROLLER_MAX_WAIT_S``):
a container whose sshd is slow to answer holds its siblings back by this much at most."""
RUN_TIMEOUT_S = 3600.0
"""A batch that runs longer is stopped (the one-process path has no bound; an apply's has)."""


def target_to_dict(target: Target) -> dict[str, Any]:
    """A target as the request carries it (paths as text)."""
    if isinstance(target, ChrootTarget):
        return {"type": "chroot", "root": str(target.root), "name": target.name}
    return {
        "type": "ssh",
        "host": target.host,
        "user": target.user,
        "port": target.port,
        "private_key": str(target.private_key) if target.private_key else None,
        "name": target.name,
        "ssh_common_args": target.ssh_common_args,
    }


def target_from_dict(data: dict[str, Any]) -> Target:
    """The inverse of :func:`target_to_dict`; anything else is refused by name."""
    if data.get("type") == "chroot":
        return ChrootTarget(root=Path(str(data["root"])), name=data.get("name"))
    if data.get("type") == "ssh":
        key = data.get("private_key")
        return SshTarget(
            host=str(data["host"]),
            user=str(data.get("user", "root")),
            port=int(data.get("port", 22)),
            private_key=Path(key) if key else None,
            name=data.get("name"),
            ssh_common_args=data.get("ssh_common_args"),
        )
    raise ValueError(f"unknown target type {data.get('type')!r}")


@dataclass
class Pending:
    """One command's request, waiting for its batch."""

    target: Target
    variables: dict[str, Any]
    playbook: str
    check: bool
    conn: socket.socket
    arrived: float = field(default_factory=time.monotonic)
    gone: threading.Event = field(default_factory=threading.Event)
    """Set when the command's connection closed before its answer (the command was stopped)."""


class Controller:
    """The server: accepts requests, forms batches, runs them, answers each command."""

    def __init__(self, path: Path, idle_s: float, window_s: float, max_wait_s: float) -> None:
        self.path = path
        self.idle_s, self.window_s, self.max_wait_s = idle_s, window_s, max_wait_s
        self.lock = threading.Condition()
        self.pending: list[Pending] = []
        self.clients = 0
        self.announced = 0
        """Commands connected but still resolving their target (waiting for sshd, pinning its key)."""
        self.running = 0
        self.batches = 0
        self.last_activity = time.monotonic()
        self.stopping = threading.Event()
        self.cancels: list[threading.Event] = []
        self.server: socket.socket | None = None
        self.inode: int | None = None

    # -- connections --------------------------------------------------------------------------

    def handle(self, conn: socket.socket) -> None:
        """Read one request, queue it, then watch the connection until the answer is sent.

        The accept loop counted the client already, so an idle exit never races a new one."""
        announced = True
        try:
            if _peer_uid(conn) != os.geteuid():
                _send(conn, {"ok": False, "error": "refused: the controller serves its own user only"})
                return
            request = _recv_line(conn)
            with self.lock:
                self.announced -= 1
                announced = False
            item = Pending(
                target=target_from_dict(request["target"]),
                variables=dict(request.get("vars") or {}),
                playbook=str(request["playbook"]),
                check=bool(request.get("check", False)),
                conn=conn,
            )
            with self.lock:
                self.pending.append(item)
                self.lock.notify_all()
            _send(conn, {"accepted": True})  # from here on, the command waits for this server
            # The command sends nothing more: end of file means it was stopped (Pulumi
            # interrupted, the apply killed). Its batch is cancelled once all its commands are.
            with contextlib.suppress(OSError):
                conn.recv(1)
            item.gone.set()
            with self.lock:
                self.lock.notify_all()
        except (OSError, ValueError, KeyError, json.JSONDecodeError) as err:
            with contextlib.suppress(OSError):
                _send(conn, {"ok": False, "error": f"bad request: {err}"})
        finally:
            with contextlib.suppress(OSError):
                conn.close()
            with self.lock:
                self.announced -= 1 if announced else 0
                self.clients -= 1
                self.last_activity = time.monotonic()
                self.lock.notify_all()

    # -- batches ------------------------------------------------------------------------------

    def next_batch(self) -> list[Pending] | None:
        """Wait for requests, then for the window to close; ``None`` when it is time to exit."""
        with self.lock:
            while True:
                self.pending = [p for p in self.pending if not p.gone.is_set()]
                now = time.monotonic()
                if self.pending:
                    first = min(p.arrived for p in self.pending)
                    last = max(p.arrived for p in self.pending)
                    due = min(first + self.max_wait_s, last + self.window_s)
                    if self.announced:  # commands of this apply still on their way: wait for them
                        due = first + self.max_wait_s
                    if now >= due:
                        batch, self.pending = self.pending, []
                        self.running += 1
                        return batch
                    self.lock.wait(due - now)
                    continue
                idle = not self.clients and not self.running
                if self.stopping.is_set() or (idle and now - self.last_activity >= self.idle_s):
                    # Refuse new commands first (they start a server of their own), then leave
                    # once the ones already accepted are served.
                    self.close_listener()
                    if idle:
                        return None
                self.lock.wait(0.2 if idle else 1.0)

    def run_batch(self, batch: list[Pending]) -> None:
        """One ``ansible-playbook`` per (playbook, mode) over the batch; answer each command."""
        groups: dict[tuple[str, bool], list[Pending]] = {}
        for item in batch:
            groups.setdefault((item.playbook, item.check), []).append(item)
        try:
            for (playbook, check), items in groups.items():
                self._run_group(playbook, check, items)
        finally:
            with self.lock:
                self.running -= 1
                self.last_activity = time.monotonic()
                self.lock.notify_all()

    def _run_group(self, playbook: str, check: bool, items: list[Pending]) -> None:
        names = [i.target.inventory_name for i in items]
        if len(set(names)) != len(names):  # two commands for one container: run them apart
            for item in items:
                self._run_group(playbook, check, [item])
            return
        cancel, interrupted, ran = threading.Event(), threading.Event(), threading.Event()
        with self.lock:
            self.batches += 1
            number = self.batches
            self.cancels.append(cancel)
        watcher = threading.Thread(target=self._watch, args=(items, cancel, interrupted, ran), daemon=True)
        watcher.start()
        answers: list[dict[str, Any]]
        try:
            recap = run_playbook(
                [i.target for i in items],
                playbook,
                check=check,
                timeout=RUN_TIMEOUT_S,
                host_vars={i.target.inventory_name: i.variables for i in items},
                forks=len(items),
                cancel=cancel,
            )
        except (AnsibleRunError, ValueError) as err:
            answers = [{"ok": False, "error": str(err)} for _ in items]
        else:
            answers = [{"ok": True, "recap": recap_to_dict(host_recap(recap, i.target.inventory_name))} for i in items]
        finally:
            # The watcher stops before any answer goes out: a command that leaves because it got
            # its answer is not one that was stopped.
            ran.set()
            watcher.join()
            with self.lock:
                self.cancels.remove(cancel)
        for item, body in zip(items, answers, strict=True):
            _answer(item, {**body, "batch": number, "size": len(items)})
        if interrupted.is_set() and not self.stopping.is_set():
            # Every command of this batch went away mid-run: the apply was interrupted. Nothing
            # of it may keep running, this server included (another apply starts its own).
            self.stop()

    def _watch(
        self, items: list[Pending], cancel: threading.Event, interrupted: threading.Event, ran: threading.Event
    ) -> None:
        """Cancel the batch once every command waiting on it went away while it ran."""
        while not ran.is_set():
            if all(i.gone.is_set() for i in items):
                interrupted.set()
                cancel.set()
                return
            ran.wait(0.2)

    def close_listener(self) -> None:
        """Stop accepting and remove the socket (only if it is still this server's)."""
        if self.server is None:
            return
        with contextlib.suppress(OSError):
            if self.path.stat().st_ino == self.inode:
                self.path.unlink()
        self.server.close()
        self.server = None

    def stop(self) -> None:
        """Cancel every running batch and make :meth:`serve` return."""
        self.stopping.set()
        with self.lock:
            for cancel in self.cancels:
                cancel.set()
            self.lock.notify_all()

    # -- the loop -----------------------------------------------------------------------------

    def serve(self, server: socket.socket) -> None:
        """Accept in one thread, batch in this one, until idle or stopped."""
        server.settimeout(0.5)
        self.server, self.inode = server, self.path.stat().st_ino

        def accept() -> None:
            while self.server is not None:
                try:
                    conn, _ = server.accept()
                except TimeoutError:
                    continue
                except OSError:
                    return
                conn.settimeout(None)
                with self.lock:
                    self.clients += 1
                    self.announced += 1
                    self.last_activity = time.monotonic()
                threading.Thread(target=self.handle, args=(conn,), daemon=True).start()

        threading.Thread(target=accept, daemon=True).start()
        workers: list[threading.Thread] = []
        while (batch := self.next_batch()) is not None:
            worker = threading.Thread(target=self.run_batch, args=(batch,), daemon=True)
            worker.start()
            workers.append(worker)
        self.stopping.set()
        for worker in workers:
            worker.join()


def _answer(item: Pending, body: dict[str, Any]) -> None:
    with contextlib.suppress(OSError):
        _send(item.conn, body)


def _send(conn: socket.socket, body: dict[str, Any]) -> None:
    conn.sendall(json.dumps(body).encode() + b"\n")


def _recv_line(conn: socket.socket, limit: int = 16 << 20) -> dict[str, Any]:
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(65536)
        if not chunk:
            raise ValueError("connection closed before a whole request")
        data += chunk
        if len(data) > limit:
            raise ValueError("request too large")
    body = json.loads(data)
    if not isinstance(body, dict):
        raise ValueError("a request is a JSON object")
    return body


def _peer_uid(conn: socket.socket) -> int:
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return int(uid)


def private_dir(directory: Path) -> Path:
    """``directory``, created 0700 if missing; refused unless it is ours and no one else's."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    info = directory.stat()
    if info.st_uid != os.geteuid() or info.st_mode & 0o077:
        raise PermissionError(f"{directory}: must be owned by uid {os.geteuid()} with mode 0700")
    return directory


@contextlib.contextmanager
def socket_address(path: Path) -> Iterator[str]:
    """An address for ``path`` that fits ``sockaddr_un`` (108 bytes) however deep the project
    lies: the name under ``/proc/self/fd/N``, ``N`` the directory held open meanwhile."""
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{fd}/{path.name}"
    finally:
        os.close(fd)


def listen(path: Path) -> socket.socket:
    """Bind the controller's socket (mode 0600) in its private directory."""
    private_dir(path.parent)
    path.unlink(missing_ok=True)  # the caller holds the start lock: a file here is a dead server's
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o077)
    try:
        with socket_address(path) as address:
            server.bind(address)
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    server.listen(64)
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The warm Ansible controller of one apply (started by the runner).")
    parser.add_argument("--socket", required=True, type=Path)
    parser.add_argument("--idle", type=float, default=IDLE_S)
    parser.add_argument("--window", type=float, default=WINDOW_S)
    parser.add_argument("--max-wait", type=float, default=MAX_WAIT_S)
    args = parser.parse_args(argv)
    server = listen(args.socket)
    controller = Controller(args.socket, args.idle, args.window, args.max_wait)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: controller.stop())
    try:
        controller.serve(server)
    finally:
        with controller.lock:
            controller.close_listener()
    return 0


if __name__ == "__main__":
    sys.exit(main())
