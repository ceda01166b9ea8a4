"""The local fabric's Debian package mirror: the only way its containers reach packages.

The containers sit on a bridge that forwards nothing, so they cannot reach Debian's archive.
This is a pass-through mirror served on the bridge's own (gateway) address: a request for
``/debian/<path>`` or ``/debian-security/<path>`` is fetched by the host from the archive (an
allowed registry) and answered. Files whose name fixes their content (``.deb`` packages and the
``by-hash`` index files) are cached under the shared cache directory, so repeated runs and
re-created containers install without downloading again. Release files (``InRelease``) are
always fetched fresh; apt verifies every file against them as it would from any mirror.

Policies point apt at it with ``baseline_apt_mirror`` (see ``Pulumi.local.yaml``).
"""

from __future__ import annotations

import contextlib
import http.server
import os
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

UPSTREAMS = {
    "debian": "http://deb.debian.org/debian",
    "debian-security": "http://deb.debian.org/debian-security",
}
PORT = 3142


def _immutable(rel: str) -> bool:
    return rel.endswith((".deb", ".udeb")) or "/by-hash/" in rel


class _Handler(http.server.BaseHTTPRequestHandler):
    cache: Path

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def do_GET(self) -> None:
        self._serve(body=True)

    def _serve(self, body: bool) -> None:
        archive, _, rel = self.path.split("?", 1)[0].lstrip("/").partition("/")
        if archive not in UPSTREAMS or not rel or ".." in rel.split("/"):
            self.send_error(404)
            return
        cached = self.cache / archive / rel
        data: bytes | None = cached.read_bytes() if _immutable(rel) and cached.is_file() else None
        if data is None:
            try:
                with urllib.request.urlopen(f"{UPSTREAMS[archive]}/{rel}", timeout=60) as response:  # noqa: S310
                    data = response.read()
            except urllib.error.HTTPError as err:
                self.send_error(err.code)
                return
            except OSError:
                self.send_error(502)
                return
            if _immutable(rel):
                cached.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=cached.parent, prefix=".part-")
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                os.replace(tmp, cached)
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data)


@contextlib.contextmanager
def serve_package_mirror(addresses: list[str], cache: Path, port: int = PORT) -> Iterator[list[str]]:
    """Serve the mirror on each address (a bridge's gateway) while the block runs; yields base URLs."""
    handler = type("Handler", (_Handler,), {"cache": cache})
    servers = [http.server.ThreadingHTTPServer((address, port), handler) for address in addresses]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for t in threads:
        t.start()
    try:
        yield [f"http://{address}:{port}" for address in addresses]
    finally:
        for s in servers:
            s.shutdown()
            s.server_close()
