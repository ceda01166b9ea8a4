"""`make publish-image` against a loopback HTTP mirror that honours If-None-Match, and a directory."""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from ops.images.publish import main

FAMILY, VERSION, FILE = "debian12-base", "9.0.0", "debian12-base_9.0.0_amd64.tar.zst"


class _Mirror(http.server.BaseHTTPRequestHandler):
    """GET and create-only PUT on a directory; records each request's Authorization header."""

    root: Path
    auth: list[str]

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _path(self) -> Path:
        return self.root / self.path.lstrip("/")

    def do_GET(self) -> None:
        p = self._path()
        if not p.is_file():
            self.send_error(404)
            return
        body = p.read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self) -> None:
        self.auth.append(self.headers.get("Authorization", ""))
        body = self.rfile.read(int(self.headers["Content-Length"]))
        p = self._path()
        if self.headers.get("If-None-Match") == "*" and p.exists():
            self.send_error(412)
            return
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(body)
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[tuple[str, Path, list[str]]]:
    root, auth = tmp_path / "mirror", []
    root.mkdir()
    handler = type("Mirror", (_Mirror,), {"root": root, "auth": auth})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/lxc", root / "lxc", auth
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def built(tmp_path: Path) -> tuple[Path, Path, bytes]:
    """A cache dir with an artifact, and a catalog naming it with its sha256."""
    cache, body = tmp_path / "cache", b"pretend template " * 1000
    cache.mkdir()
    (cache / FILE).write_bytes(body)
    entry = {
        "version": VERSION,
        "file_name": FILE,
        "sha256": hashlib.sha256(body).hexdigest(),
        "size": len(body),
        "sources": ["test"],
        "built_at": "2026-11-29T00:00:00Z",
        "git_commit": "0" * 40,
        "base_suite": "bookworm",
    }
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(yaml.safe_dump({"families": {FAMILY: [entry]}}))
    return cache, catalog, body


def _publish(target: str, cache: Path, catalog: Path, **env: str) -> int:
    args = ["--family", FAMILY, "--version", VERSION, "--catalog", str(catalog), "--cache-dir", str(cache)]
    return main([*args, "--target", target], environ=env)


def test_publishes_artifact_and_sha256_once_then_refuses_a_different_file(
    mirror: tuple[str, Path, list[str]], built: tuple[Path, Path, bytes], capsys: pytest.CaptureFixture[str]
) -> None:
    url, root, auth = mirror
    cache, catalog, body = built
    assert _publish(url, cache, catalog, SAMAKIA_IMAGE_PUBLISH_TOKEN="t0ken-value") == 0
    assert (root / FAMILY / FILE).read_bytes() == body
    sha = (root / FAMILY / f"{FILE}.sha256").read_text().split()
    assert sha == [hashlib.sha256(body).hexdigest(), FILE]
    assert auth == ["Bearer t0ken-value"] * 2
    assert "t0ken-value" not in capsys.readouterr().out
    # Publishing the same artifact again is a no-op; nothing is uploaded.
    assert _publish(url, cache, catalog) == 0
    assert "already published, identical" in capsys.readouterr().out and len(auth) == 2
    # A different artifact under the published version is refused, and the mirror keeps the original.
    (root / FAMILY / f"{FILE}.sha256").write_text("f" * 64 + f"  {FILE}\n")
    assert _publish(url, cache, catalog) == 1
    assert "versions are immutable" in capsys.readouterr().err
    assert (root / FAMILY / FILE).read_bytes() == body


def test_the_server_side_create_only_check_holds_in_a_race(
    mirror: tuple[str, Path, list[str]], built: tuple[Path, Path, bytes], capsys: pytest.CaptureFixture[str]
) -> None:
    url, root, _ = mirror
    cache, catalog, _ = built
    (root / FAMILY).mkdir(parents=True)
    (root / FAMILY / FILE).write_bytes(b"someone else's upload")  # the artifact landed, its sha256 not yet
    assert _publish(url, cache, catalog) == 1
    assert "never replaced" in capsys.readouterr().err
    assert (root / FAMILY / FILE).read_bytes() == b"someone else's upload"


def test_directory_target_and_bad_inputs(built: tuple[Path, Path, bytes], tmp_path: Path) -> None:
    cache, catalog, body = built
    target = tmp_path / "srv"
    assert _publish(target.as_uri(), cache, catalog) == 0
    assert (target / FAMILY / FILE).read_bytes() == body
    (cache / FILE).write_bytes(b"tampered")
    assert _publish((tmp_path / "other").as_uri(), cache, catalog) == 1  # not the catalogued artifact
    assert _publish("ftp://mirror/x", cache, catalog) == 2
    assert main(["--family", FAMILY, "--version", "9.9.9", "--catalog", str(catalog), "--target", "file:///x"], {}) == 2
