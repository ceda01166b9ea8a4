"""Reaching a container over SSH as production does: wait for sshd, pin its host key, pick the user.

* :func:`wait_for_sshd` polls the port until sshd sends its banner, for a bounded time.
* :func:`pin_host_key` records the keys a container presents at first contact (trust on first
  use) in one ``known_hosts`` file per container, stamped with the container's *instance* (it
  changes only when Proxmox creates the container anew). Later contacts with the same instance
  must present a recorded key, or the run fails loudly, naming the container; a new instance
  (a replaced container) is recorded afresh. Ansible then connects with
  ``StrictHostKeyChecking=yes`` against that file only, so the check is OpenSSH's own.
* :func:`login_user` tries the hardened admin user first and falls back to root (the bootstrap
  phase, before the policy closed root login), with one cheap ``ssh ... true`` each.

The private key is only ever named by its path (``-i PATH``); nothing here reads or prints it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

HEADER = "# samakia-fabric host keys of {name} (instance {instance}), recorded at first contact\n"


class HostKeyError(RuntimeError):
    """sshd did not answer, or presented a key that is not the pinned one."""


def wait_for_sshd(host: str, port: int = 22, timeout: float = 60.0, name: str | None = None) -> float:
    """Seconds until sshd on ``host:port`` sent its banner; raises after ``timeout``."""
    started = time.monotonic()
    deadline = started + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=2) as sock:
                sock.settimeout(2)
                if sock.recv(64).startswith(b"SSH-"):
                    return time.monotonic() - started
        except OSError:
            pass
        if time.monotonic() >= deadline:
            raise HostKeyError(f"sshd on {name or host} ({host}:{port}) did not answer within {timeout:.0f}s")
        time.sleep(0.25)


def scan_keys(host: str, port: int = 22) -> list[str]:
    """The host keys ``host`` presents, as ``known_hosts`` lines (``host type base64``)."""
    proc = subprocess.run(
        ["ssh-keyscan", "-T", "5", "-p", str(port), host],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    lines = sorted({ln.strip() for ln in proc.stdout.splitlines() if ln.strip() and not ln.startswith("#")})
    if not lines:
        raise HostKeyError(f"{host}:{port} presented no host key ({proc.stderr.strip()[-200:]})")
    return lines


def _key(line: str) -> tuple[str, str]:
    parts = line.split()
    return parts[-2], parts[-1]


@dataclass(frozen=True)
class Pinned:
    """The outcome of :func:`pin_host_key`."""

    known_hosts: Path
    recorded: bool
    """True when the keys were recorded now (first contact with this instance)."""


def pin_host_key(known_dir: Path, name: str, instance: str, host: str, port: int = 22) -> Pinned:
    """Record (first contact) or verify the host keys of container ``name``; see the module docstring."""
    known = known_dir / name
    presented = scan_keys(host, port)
    header = HEADER.format(name=name, instance=instance or "unknown")
    if known.is_file():
        text = known.read_text()
        same_instance = text.startswith(header)
        recorded = {_key(ln) for ln in text.splitlines() if ln and not ln.startswith("#")}
        if same_instance:
            if not {_key(ln) for ln in presented} <= recorded:
                raise HostKeyError(
                    f"host key of container {name} ({host}) changed, but the container was not replaced"
                    f" (same instance {instance}): refusing to connect. If the change is legitimate,"
                    f" replace the container through code or remove {known} after checking the new key."
                )
            return Pinned(known, recorded=False)
    known_dir.mkdir(parents=True, exist_ok=True)
    tmp = known.with_suffix(".tmp")
    tmp.write_text(header + "".join(line + "\n" for line in presented))
    os.chmod(tmp, 0o644)
    tmp.replace(known)
    return Pinned(known, recorded=True)


def ssh_options(known_hosts: Path) -> list[str]:
    """OpenSSH options that check the host key against the pinned file only."""
    return [
        "-o",
        f"UserKnownHostsFile={known_hosts}",
        "-o",
        "GlobalKnownHostsFile=/dev/null",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        "IdentitiesOnly=yes",
    ]


def login_user(host: str, users: list[str], key: Path | None, known_hosts: Path, port: int = 22) -> str | None:
    """The first of ``users`` that can log in by key (admin after hardening, root before), or None."""
    for user in users:
        cmd = ["ssh", *ssh_options(known_hosts), "-o", "ConnectTimeout=10", "-p", str(port)]
        if key is not None:
            cmd += ["-i", str(key)]
        proc = subprocess.run(
            [*cmd, f"{user}@{host}", "true"], stdin=subprocess.DEVNULL, capture_output=True, timeout=30, check=False
        )
        if proc.returncode == 0:
            return user
        if b"Host key verification failed" in proc.stderr or b"REMOTE HOST IDENTIFICATION" in proc.stderr:
            raise HostKeyError(f"host key of {host} does not match the pinned key in {known_hosts}")
    return None
