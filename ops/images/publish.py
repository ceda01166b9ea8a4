"""Publish a built, catalogued image version to the image mirror: the artifact and its sha256, once.

    python -m ops.images.publish --family debian12-base --version 1.2.0 [--catalog images/catalog.yaml]
    make publish-image FAMILY=debian12-base VERSION=1.2.0

The target is pluggable by URL (``--target`` or ``SAMAKIA_IMAGE_PUBLISH_URL``):

- ``https://...`` / ``http://...``: an HTTP PUT of ``<url>/<family>/<file>`` and ``<file>.sha256``
  (any WebDAV-style server, or an S3-compatible bucket behind a presigning proxy). Each PUT carries
  ``If-None-Match: *``, so the server refuses to replace an existing object (RFC 9110 13.1.2) even
  when two publishers race; ``SAMAKIA_IMAGE_PUBLISH_TOKEN``, when set, goes in an
  ``Authorization: Bearer`` header (never argv).
- ``file:///srv/mirror``: a directory (a mounted mirror), files created exclusively (``O_EXCL``).

Never overwrites: the artifact must be the one the catalog names (sha256 checked before upload).
If the mirror already holds the version, an identical artifact (same sha256 file) is a no-op
and a different one is refused (exit 1) naming the file: a published version is immutable.
Exit codes: 0 published (or already there, identical), 1 refused, 2 unusable input.
"""

from __future__ import annotations

import argparse
import os
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from fabric.catalog import ImageBuild, load_catalog
from ops.images.artifact import sha256_file
from ops.images.inputs import DEFAULT_CATALOG, default_cache_dir

TIMEOUT_S = 60


class PublishRefused(RuntimeError):
    """The mirror already holds a different file under this name, or the artifact is not the catalogued one."""


@dataclass(frozen=True)
class Published:
    url: str
    uploaded: bool
    """False when the mirror already held exactly this artifact."""


def _sidecar(entry: ImageBuild) -> bytes:
    return f"{entry.sha256}  {entry.file_name}\n".encode()


class HttpTarget:
    """PUT-only, create-only uploads to an HTTP mirror."""

    def __init__(self, base: str, token: str | None) -> None:
        self.base, self.token = base.rstrip("/"), token

    def _request(self, method: str, url: str, body: Path | bytes | None = None) -> int:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        if method == "PUT":
            headers["If-None-Match"] = "*"
        data = body.read_bytes() if isinstance(body, Path) else body
        req = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310 (http/https only)
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:  # noqa: S310
                return int(resp.status)
        except urllib.error.HTTPError as err:
            return int(err.code)

    def read(self, path: str) -> bytes | None:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        req = urllib.request.Request(f"{self.base}/{path}", headers=headers)  # noqa: S310
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:  # noqa: S310
                return bytes(resp.read())
        except urllib.error.HTTPError as err:
            if err.code == 404:
                return None
            raise

    def create(self, path: str, body: Path | bytes) -> None:
        status = self._request("PUT", f"{self.base}/{path}", body)
        if status == 412:
            raise PublishRefused(f"{self.base}/{path} already exists on the mirror: published files are never replaced")
        if status not in (200, 201, 204):
            raise PublishRefused(f"PUT {self.base}/{path} failed with HTTP {status}")

    def url(self, path: str) -> str:
        return f"{self.base}/{path}"


class DirectoryTarget:
    """Exclusive creates in a mirror directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def read(self, path: str) -> bytes | None:
        p = self.root / path
        return p.read_bytes() if p.is_file() else None

    def create(self, path: str, body: Path | bytes) -> None:
        dest = self.root / path
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            raise PublishRefused(f"{dest} already exists on the mirror: published files are never replaced") from None
        with os.fdopen(fd, "wb") as out:
            out.write(body.read_bytes() if isinstance(body, Path) else body)

    def url(self, path: str) -> str:
        return (self.root / path).as_uri()


def target_for(url: str, token: str | None) -> HttpTarget | DirectoryTarget:
    parsed = urlparse(url)
    if parsed.scheme in ("http", "https"):
        return HttpTarget(url, token)
    if parsed.scheme == "file":
        return DirectoryTarget(Path(parsed.path))
    raise ValueError(f"publish target {url!r}: use an http(s):// mirror URL or a file:// directory")


def publish(entry: ImageBuild, family: str, artifact: Path, target: HttpTarget | DirectoryTarget) -> Published:
    """Upload the artifact, then its sha256 file (which marks the version complete)."""
    if not artifact.is_file():
        raise FileNotFoundError(f"{artifact} is missing: build it first (make image FAMILY={family} VERSION=...)")
    if sha256_file(artifact) != entry.sha256:
        raise PublishRefused(f"{artifact} does not match the catalog's sha256 for {family}@{entry.version}")
    path = f"{family}/{entry.file_name}"
    existing = target.read(f"{path}.sha256")
    if existing is not None:
        if existing.split()[:1] == [entry.sha256.encode()]:
            return Published(target.url(path), uploaded=False)
        raise PublishRefused(f"{target.url(path)} is already published with another sha256: versions are immutable")
    target.create(path, artifact)
    target.create(f"{path}.sha256", _sidecar(entry))
    return Published(target.url(path), uploaded=True)


def main(argv: list[str] | None = None, environ: dict[str, str] | None = None) -> int:
    env = dict(os.environ if environ is None else environ)
    ap = argparse.ArgumentParser(prog="python -m ops.images.publish", description=__doc__.split("\n\n")[0])
    ap.add_argument("--family", required=True)
    ap.add_argument("--version", required=True)
    ap.add_argument("--catalog", default=str(DEFAULT_CATALOG))
    ap.add_argument("--cache-dir", type=Path, help="artifact directory (default $SAMAKIA_CACHE/images/<family>)")
    ap.add_argument("--target", default=env.get("SAMAKIA_IMAGE_PUBLISH_URL"), help="mirror URL (http(s):// or file://)")
    args = ap.parse_args(argv)
    if not args.target:
        print("publish-image: no target: set SAMAKIA_IMAGE_PUBLISH_URL or pass --target", file=sys.stderr)
        return 2
    try:
        entry = load_catalog(args.catalog).find(args.family, args.version)
        if entry is None:
            print(f"publish-image: {args.family}@{args.version} is not in {args.catalog}", file=sys.stderr)
            return 2
        target = target_for(args.target, env.get("SAMAKIA_IMAGE_PUBLISH_TOKEN"))
        cache = args.cache_dir or default_cache_dir(args.family)
        done = publish(entry, args.family, cache / entry.file_name, target)
    except PublishRefused as err:
        print(f"publish-image: refused: {err}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as err:
        print(f"publish-image: {err}", file=sys.stderr)
        return 2
    print(f"publish-image: {'published' if done.uploaded else 'already published, identical'}: {done.url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
