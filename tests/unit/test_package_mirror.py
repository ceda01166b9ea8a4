"""The local fabric's package mirror: passes requests through, caches only content-addressed files."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest

from ops.localpve import package_mirror
from ops.localpve.services import serve_directory


def test_mirror_passes_through_and_caches_only_immutable_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    upstream = tmp_path / "upstream"
    (upstream / "pool").mkdir(parents=True)
    (upstream / "dists").mkdir()
    (upstream / "pool" / "unbound_1.0_amd64.deb").write_bytes(b"deb v1")
    (upstream / "dists" / "InRelease").write_text("release v1")
    cache = tmp_path / "cache"
    with serve_directory(upstream, "127.0.0.1", 8090) as url:
        monkeypatch.setattr(package_mirror, "UPSTREAMS", {"debian": url})
        with package_mirror.serve_package_mirror(["127.0.0.1"], cache, port=8091) as (base,):

            def get(path: str) -> bytes:
                with urllib.request.urlopen(f"{base}{path}", timeout=10) as response:  # noqa: S310 (loopback)
                    data: bytes = response.read()
                    return data

            assert get("/debian/pool/unbound_1.0_amd64.deb") == b"deb v1"
            assert get("/debian/dists/InRelease") == b"release v1"
            (upstream / "pool" / "unbound_1.0_amd64.deb").write_bytes(b"changed upstream")
            (upstream / "dists" / "InRelease").write_text("release v2")
            assert get("/debian/pool/unbound_1.0_amd64.deb") == b"deb v1"  # a package name fixes its content
            assert get("/debian/dists/InRelease") == b"release v2"  # release files are always fresh
            assert (cache / "debian" / "pool" / "unbound_1.0_amd64.deb").is_file()
            for bad in ("/elsewhere/x.deb", "/debian/../../etc/passwd", "/debian/pool/missing.deb"):
                with pytest.raises(urllib.error.HTTPError):
                    get(bad)
