"""The health probes against loopback stand-ins of the services, and their bounded retries."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator

import pytest

from fabric.runtime import health


@pytest.fixture
def resolver() -> Iterator[int]:
    """A UDP server answering every query with its id and the response bit (what unbound does, minus data)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                query, peer = sock.recvfrom(512)
            except TimeoutError:
                continue
            sock.sendto(query[:2] + struct.pack(">H", 0x8180) + query[4:], peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield sock.getsockname()[1]
    stop.set()
    thread.join()
    sock.close()


def test_dns_probe_needs_a_real_response(resolver: int) -> None:
    assert health.dns_answers("127.0.0.1", "dns-1", port=resolver) is None
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    try:
        why = health.dns_answers("127.0.0.1", "dns-1", port=silent.getsockname()[1])
    finally:
        silent.close()
    assert why is not None and "no DNS answer" in why


def test_the_dns_profile_asks_a_name_unbound_answers_locally(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[tuple[str, str]] = []
    monkeypatch.setattr(health, "dns_answers", lambda host, name: asked.append((host, name)))
    assert health.PROBES["dns"]("10.0.0.11", "dns-1") is None
    # Not the hostname: recursing it waits for upstream timeouts on a network without a way out.
    assert asked == [("10.0.0.11", "localhost.")]


def test_postgres_probe_needs_the_ssl_request_answered() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def accept(reply: bytes) -> None:
        conn, _ = server.accept()
        with conn:
            assert conn.recv(8) == struct.pack(">II", 8, 80877103)
            conn.sendall(reply)

    try:
        for reply, healthy in ((b"N", True), (b"E", False)):
            thread = threading.Thread(target=accept, args=(reply,))
            thread.start()
            result = health.postgres_accepts("127.0.0.1", "db-1", port=port)
            thread.join()
            assert (result is None) == healthy, result
    finally:
        server.close()
    assert "does not accept" in str(health.postgres_accepts("127.0.0.1", "db-1", port=port))


def test_retries_are_bounded_and_report_the_last_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    sleeps: list[float] = []
    monkeypatch.setitem(health.PROBES, "dns", lambda host, name: f"no answer from {host}")
    request = {"host": "10.0.0.1", "hostname": "dns-1", "profiles": ["dns"], "retries": 3, "intervalS": 0.5}
    failures = health.wait_healthy(request, sleep=sleeps.append)
    assert sleeps == [0.5, 0.5] and failures == ["dns: no answer from 10.0.0.1"]


def test_a_profile_without_its_own_probe_is_checked_through_sshd() -> None:
    assert list(health.probes_for(["monitoring"])) == ["ssh"]
    assert list(health.probes_for(["dns", "postgresql"])) == ["dns", "postgresql"]
