"""Ask one service a question, retrying a bounded number of times; exit 0 once it answers right.

Run as a script by the system checks, inside the private network namespace where the root's
daemons were started (see ``test_system.run_services``), so it only ever talks to 127.0.0.1
there. Usage:

    service_probe.py http URL STATUS [TEXT]       GET answers STATUS, body containing TEXT
    service_probe.py dns NAME ADDRESS             the resolver on 127.0.0.1:53 answers NAME A ADDRESS
    service_probe.py swift URL USER               tempauth login with $SAMAKIA_PROBE_KEY, store an
                                                  object, read it back; a wrong key is refused
"""

from __future__ import annotations

import os
import socket
import struct
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable

ATTEMPTS = 120
PAUSE_S = 0.5


def _request(url: str, method: str = "GET", headers: dict[str, str] | None = None, data: bytes | None = None):  # type: ignore[no-untyped-def]
    if not url.startswith("http://127.0.0.1"):
        raise SystemExit(f"refusing a non-loopback URL: {url}")
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})  # noqa: S310
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:  # an answer too, with its status
        return err.code, dict(err.headers), err.read()


def http(url: str, status: str, text: str = "") -> str:
    code, _, body = _request(url)
    if code != int(status) or text.encode() not in body:
        raise AssertionError(f"{url} answered {code}: {body[:200]!r}")
    return f"{url}: {code}"


def dns(name: str, address: str) -> str:
    """One A query for ``name`` to 127.0.0.1:53; the answer's last record must be ``address``."""
    query = struct.pack(">HHHHHH", 0x5AF2, 0x0100, 1, 0, 0, 0)
    query += b"".join(bytes([len(p)]) + p.encode() for p in name.strip(".").split(".")) + b"\0"
    query += struct.pack(">HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(2)
        s.sendto(query, ("127.0.0.1", 53))
        reply = s.recv(512)
    (answers,) = struct.unpack(">H", reply[6:8])
    if reply[:2] != query[:2] or reply[3] & 0x0F or not answers or reply[-4:] != socket.inet_aton(address):
        raise AssertionError(f"{name}: unexpected DNS reply {reply!r}")
    return f"{name} A {address}"


def swift(url: str, user: str) -> str:
    key = os.environ["SAMAKIA_PROBE_KEY"]  # never in argv
    code, head, _ = _request(f"{url}/auth/v1.0", headers={"X-Auth-User": user, "X-Auth-Key": key})
    if code != 200:
        raise AssertionError(f"login answered {code}")
    token, container = head["X-Auth-Token"], head["X-Storage-Url"] + "/samakia-check"
    for target, data in ((container, b""), (f"{container}/hello", b"stored\n")):
        code = _request(target, method="PUT", data=data, headers={"X-Auth-Token": token})[0]
        if code not in (201, 202):
            raise AssertionError(f"PUT {target} answered {code}")
    code, _, body = _request(f"{container}/hello", headers={"X-Auth-Token": token})
    if (code, body) != (200, b"stored\n"):
        raise AssertionError(f"GET answered {code}: {body!r}")
    wrong = _request(f"{url}/auth/v1.0", headers={"X-Auth-User": user, "X-Auth-Key": "wrong"})[0]
    if wrong != 401:
        raise AssertionError(f"a wrong key was answered {wrong}")
    return "stored and read back an object; a wrong key is refused"


PROBES: dict[str, Callable[..., str]] = {"http": http, "dns": dns, "swift": swift}


def main(argv: list[str]) -> int:
    probe, args = PROBES[argv[0]], argv[1:]
    last = ""
    for _ in range(ATTEMPTS):
        try:
            print(f"probe {argv[0]}: {probe(*args)}")
            return 0
        except (OSError, AssertionError, KeyError, struct.error, ValueError) as err:
            last = f"{type(err).__name__}: {err}"
        time.sleep(PAUSE_S)
    print(f"probe {argv[0]} {argv[1]}: no right answer after {ATTEMPTS} attempts ({last})", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
