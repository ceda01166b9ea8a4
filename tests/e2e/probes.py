"""Ask the containers' services over the bridge, in bounded loops that stop by themselves.

Only the fabric's own addresses are ever contacted (the bridge the test fabric created).
"""

from __future__ import annotations

import socket
import struct
import time

from fabric.runtime.health import dns_answers, dns_query, postgres_accepts


def _first_a_record(reply: bytes, txid: int) -> str | None:
    rid, flags, qd, an = struct.unpack(">HHHH", reply[:8])
    if rid != txid or flags & 0x000F or an == 0:
        return None
    pos = 12
    for _ in range(qd):  # skip the question
        while reply[pos]:
            pos += reply[pos] + 1
        pos += 5
    for _ in range(an):
        pos += 2 if reply[pos] & 0xC0 == 0xC0 else len(reply[pos:].split(b"\0", 1)[0]) + 1
        rtype, _cls, _ttl, rdlen = struct.unpack(">HHIH", reply[pos : pos + 10])
        pos += 10
        if rtype == 1 and rdlen == 4:
            return socket.inet_ntoa(reply[pos : pos + 4])
        pos += rdlen
    return None


def resolve(server: str, name: str, attempts: int = 40) -> str | None:
    """The first A record ``server`` (port 53/udp) answers for ``name``; None after ``attempts`` tries."""
    for txid in range(1, attempts + 1):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(1.0)
            try:
                sock.sendto(dns_query(name, txid), (server, 53))
                answer = _first_a_record(sock.recv(512), txid)
                if answer:
                    return answer
            except OSError:
                pass
        time.sleep(0.5)
    return None


def resolver_serving(server: str, timeout_s: float = 0.5, tries: int = 3) -> bool:
    """One sample of a query loop: does unbound on ``server`` answer a query now? A lost or late
    datagram (a loaded 2-core host) is asked again before the resolver counts as silent, so a
    sample costs at most ``tries * timeout_s``; a replace keeps a resolver silent for tens of seconds."""
    return any(dns_answers(server, "localhost.", timeout_s=timeout_s) is None for _ in range(tries))


def postgres_answers(host: str, attempts: int = 40) -> bool:
    """True once postgres on ``host:5432`` answers an SSLRequest (the health check's own probe)."""
    for _ in range(attempts):
        if postgres_accepts(host, "") is None:
            return True
        time.sleep(0.5)
    return False
