"""Pulumi state in an S3 bucket: the stack's lock documents and its raw checkpoint, read from the bucket.

A team keeps its stacks' state in an S3-compatible bucket with the engine's DIY backend::

    export PULUMI_BACKEND_URL='s3://BUCKET?endpoint=https://s3.example:9000&s3ForcePathStyle=true&region=REGION'
    export AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=...      # the environment only, never the URL

The engine locks a stack by writing ``.pulumi/locks/organization/<project>/<stack>/<id>.json`` and
refuses a second run while any other lock document is there (pulumi/pkg v3.274.1
backend/diy/lock.go, ``checkForLock``); a killed run leaves its document behind. This module reads
those documents from the bucket, with the same credentials the engine uses (boto3's own chain:
``AWS_*`` variables), so an operator sees who holds the lock; clearing it is the engine's own
``pulumi cancel`` (which deletes every lock document of the stack and nothing else: backend.go,
``CancelCurrentUpdate``), as docs/runbooks/state-lock-s3.md says.

``s3_locks`` has the shape of a lock finder ``(backend_url, project, stack) -> locks``, so the
stack runner's lock reporting (issue 20's ``ops.stack.locks``, whose file-backend finder reads the
same documents from a directory) takes it with ``register("s3", s3_locks)``.

    python -m ops.stack.s3_state locks --stack NAME    # list the stack's locks (exit 1 when any)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from fabric.errors import EXIT_FINDINGS, EXIT_OK, EXIT_UNUSABLE, InputError
from fabric.paths import PROJECT_ROOT
from ops.localpve.s3_server import REGION, s3_client

BOOKKEEPING = ".pulumi"
LOCKS = (BOOKKEEPING, "locks", "organization")
"""Locks sit under the stack's fully qualified name, ``organization/<project>/<stack>`` (pulumi/pkg
v3.274.1 backend/diy/lock.go ``stackLockDir``)."""
STACKS = (BOOKKEEPING, "stacks")
"""Checkpoints sit at ``<project>/<stack>.json`` (backend/diy/store.go, ``projectReferenceStore.StackBasePath``)."""


@dataclass(frozen=True)
class StackLock:
    """One lock document in the bucket (backend/diy/lock.go ``lockContent``). The same fields as
    the file backend's lock in the stack runner's lock reporting."""

    where: str
    pid: int
    username: str
    hostname: str
    timestamp: str

    def describe(self) -> str:
        return f"{self.where}: taken by {self.username}@{self.hostname} (pid {self.pid}) at {self.timestamp}"


@dataclass(frozen=True)
class Bucket:
    """Where an ``s3://`` backend URL points: the bucket, the key prefix and the endpoint options."""

    name: str
    prefix: str
    endpoint: str | None
    region: str

    def key(self, *parts: str) -> str:
        return "/".join(p for p in (self.prefix, *parts) if p)


def parse_backend(url: str) -> Bucket:
    """The bucket of an ``s3://BUCKET[/prefix]?endpoint=...&region=...`` URL (gocloud s3blob's options)."""
    parsed = urlparse(url)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise InputError(f"PULUMI_BACKEND_URL: not an s3://BUCKET URL (got scheme {parsed.scheme or 'none'!r})")
    query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
    endpoint = query.get("endpoint")
    if endpoint and "://" not in endpoint:
        endpoint = ("http://" if query.get("disableSSL") == "true" else "https://") + endpoint
    return Bucket(parsed.netloc, parsed.path.strip("/"), endpoint, query.get("region", REGION))


def _client(bucket: Bucket) -> Any:
    key, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    if not key or not secret:
        raise InputError(
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set (the bucket's keys, as for the engine)"
        )
    return s3_client(bucket.endpoint or f"https://s3.{bucket.region}.amazonaws.com", key, secret, bucket.region)


def s3_locks(backend_url: str, project: str, stack: str) -> list[StackLock]:
    """Every lock document of ``project``/``stack`` in the bucket, oldest first."""
    bucket = parse_backend(backend_url)
    s3 = _client(bucket)
    prefix = bucket.key(*LOCKS, project, stack) + "/"
    listed = s3.list_objects_v2(Bucket=bucket.name, Prefix=prefix).get("Contents") or []
    found = []
    for obj in listed:
        if not obj["Key"].endswith(".json"):
            continue
        body = json.loads(s3.get_object(Bucket=bucket.name, Key=obj["Key"])["Body"].read())
        found.append(
            StackLock(
                where=f"s3://{bucket.name}/{obj['Key']}",
                pid=int(body.get("pid", 0)),
                username=str(body.get("username", "?")),
                hostname=str(body.get("hostname", "?")),
                timestamp=str(body.get("timestamp", "?")),
            )
        )
    return sorted(found, key=lambda lock: lock.timestamp)


def raw_checkpoint(backend_url: str, project: str, stack: str) -> bytes:
    """The stack's state exactly as stored in the bucket (``<stack>.json``; ``.json.gz`` when the
    backend gzips), for checks that read what the bucket holds rather than what the CLI shows."""
    bucket = parse_backend(backend_url)
    s3 = _client(bucket)
    base = bucket.key(*STACKS, project, stack)
    for key in (f"{base}.json", f"{base}.json.gz"):
        try:
            data: bytes = s3.get_object(Bucket=bucket.name, Key=key)["Body"].read()
            return data
        except s3.exceptions.NoSuchKey:
            continue
    raise InputError(f"no state for {project}/{stack} in s3://{bucket.name}/{base}.json")


def project_name(project_dir: Path = PROJECT_ROOT) -> str:
    """The ``name`` in Pulumi.yaml (the project part of every state and lock key)."""
    for line in (project_dir / "Pulumi.yaml").read_text().splitlines():
        if line.startswith("name:"):
            return line.split(":", 1)[1].strip()
    raise InputError(f"{project_dir / 'Pulumi.yaml'}: no 'name'")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Read a stack's locks from its S3 state bucket.")
    parser.add_argument("action", choices=["locks"])
    parser.add_argument("--stack", required=True)
    args = parser.parse_args(argv)
    try:
        locks = s3_locks(os.environ.get("PULUMI_BACKEND_URL", ""), project_name(), args.stack)
    except InputError as err:
        print(f"s3-state: error: {err}", file=sys.stderr)
        return EXIT_UNUSABLE
    if not locks:
        print(f"stack '{args.stack}': no lock in the bucket")
        return EXIT_OK
    print(f"stack '{args.stack}': {len(locks)} lock(s)")
    for lock in locks:
        print(f"  {lock.describe()}")
    print(f"If that run is gone, clear it (the state stays as it is): pulumi cancel --stack {args.stack} --yes")
    return EXIT_FINDINGS


if __name__ == "__main__":
    sys.exit(main())
