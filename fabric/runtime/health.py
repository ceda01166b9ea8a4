"""Health checks at apply time: ``python3 -m fabric.runtime.health`` (called by ``HealthCheck``).

Each runtime profile has a probe that asks the service itself, from the host running Pulumi:

- ``dns``: unbound answers a DNS query (UDP 53) with a well-formed response, whatever its
  rcode (an answer proves the resolver is serving). The name asked is ``localhost.``, which
  every unbound answers from its own default local zone (RFC 6761; unbound.conf(5),
  ``local-zone``): the probe measures the resolver, not whether the upstream network is up. A
  container's own hostname would be recursed, and on a network without a way out (the local
  fabric's) that waits for unbound's upstream timeouts before any answer;
- ``postgresql``: the server accepts a TCP connection on 5432 and answers the protocol's
  SSLRequest with ``S`` or ``N`` (what ``pg_isready`` checks, without a client library);
- anything else: sshd accepts a connection on 22 and sends its ``SSH-`` banner.

Probes retry a bounded number of times and then fail the ``pulumi up`` with what they saw, so
the next member of the replica group is never replaced while this one is unhealthy.

The request comes on stdin as JSON: ``{"host", "hostname", "profiles", "retries", "intervalS"}``.
"""

from __future__ import annotations

import json
import socket
import struct
import sys
import time
from collections.abc import Callable
from typing import Any

TIMEOUT_S = 2.0


def dns_query(name: str, query_id: int) -> bytes:
    """A recursive query for ``name``'s A record (RFC 1035 section 4.1), as a UDP payload."""
    qname = b"".join(bytes([len(p)]) + p.encode() for p in name.strip(".").split(".") if p) + b"\0"
    return struct.pack(">HHHHHH", query_id, 0x0100, 1, 0, 0, 0) + qname + struct.pack(">HH", 1, 1)


def dns_answers(host: str, name: str, port: int = 53, timeout_s: float = TIMEOUT_S) -> str | None:
    """None when the resolver answered; else what went wrong."""
    query_id = 0x5AF1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout_s)
        try:
            s.sendto(dns_query(name, query_id), (host, port))
            reply, _ = s.recvfrom(4096)
        except OSError as err:
            return f"no DNS answer from {host}: {err}"
    if len(reply) < 12 or struct.unpack(">H", reply[:2])[0] != query_id or not reply[2] & 0x80:
        return f"{host} sent something that is not a DNS response"
    return None


def postgres_accepts(host: str, _name: str, port: int = 5432) -> str | None:
    try:
        with socket.create_connection((host, port), timeout=TIMEOUT_S) as s:
            s.settimeout(TIMEOUT_S)
            s.sendall(struct.pack(">II", 8, 80877103))  # SSLRequest
            answer = s.recv(1)
    except OSError as err:
        return f"postgresql on {host}:{port} does not accept: {err}"
    return None if answer in (b"S", b"N") else f"postgresql on {host}:{port} answered {answer!r}"


def ssh_banner(host: str, _name: str) -> str | None:
    try:
        with socket.create_connection((host, 22), timeout=TIMEOUT_S) as s:
            s.settimeout(TIMEOUT_S)
            banner = s.recv(64)
    except OSError as err:
        return f"sshd on {host}:22 does not accept: {err}"
    return None if banner.startswith(b"SSH-") else f"sshd on {host}:22 sent {banner[:20]!r}"


def unbound_serves(host: str, _name: str) -> str | None:
    """The ``dns`` profile's probe: ``dns_answers`` for a name unbound answers locally."""
    return dns_answers(host, "localhost.")


PROBES: dict[str, Callable[[str, str], str | None]] = {"dns": unbound_serves, "postgresql": postgres_accepts}


def probes_for(profiles: list[str]) -> dict[str, Callable[[str, str], str | None]]:
    chosen = {p: PROBES[p] for p in profiles if p in PROBES}
    return chosen or {"ssh": ssh_banner}


def check_once(request: dict[str, Any]) -> list[str]:
    """Every failing probe's message; empty when healthy."""
    profiles = list(request.get("profiles") or [])
    host, name = request["host"], request.get("hostname", "localhost")
    return [f"{p}: {why}" for p, probe in probes_for(profiles).items() if (why := probe(host, name))]


def wait_healthy(request: dict[str, Any], sleep: Callable[[float], None] = time.sleep) -> list[str]:
    """Retry up to ``retries`` times; the last failures, or empty once healthy."""
    retries, interval = int(request.get("retries", 30)), float(request.get("intervalS", 2.0))
    failures: list[str] = []
    for attempt in range(max(retries, 1)):
        failures = check_once(request)
        if not failures:
            return []
        if attempt + 1 < retries:
            sleep(interval)
    return failures


def main() -> int:
    request = json.loads(sys.stdin.read())
    failures = wait_healthy(request)
    who = request.get("hostname") or request.get("host")
    if failures:
        sys.stderr.write(f"{who} is not healthy after {request.get('retries', 30)} tries: {'; '.join(failures)}\n")
        return 1
    sys.stdout.write(f"{who} healthy\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
