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
``CancelCurrentUpdate``), as docs/runbooks/locks.md says.

``s3_locks`` is the stack runner's lock finder for ``s3://`` backends: importing this module
registers it with ``ops.stack.locks`` (whose file-backend finder reads the same documents from a
directory), so ``make unlock`` and the stale-lock check before every apply see a bucket's locks.
"""

from __future__ import annotations

import gzip
import json
import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlparse

from fabric.errors import InputError
from ops.localpve.s3_server import REGION, s3_client
from ops.stack.locks import LOCK_DIR, StackLock, register

STACKS = (".pulumi", "stacks")
"""Checkpoints sit at ``<project>/<stack>.json`` (backend/diy/store.go, ``projectReferenceStore.StackBasePath``)."""


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
    prefix = bucket.key(*LOCK_DIR, project, stack) + "/"
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
    """The stack's state as stored in the bucket (``<stack>.json``, or ``.json.gz`` unpacked when the
    backend gzips), for checks that read what the bucket holds rather than what the CLI shows."""
    bucket = parse_backend(backend_url)
    s3 = _client(bucket)
    base = bucket.key(*STACKS, project, stack)
    for key in (f"{base}.json", f"{base}.json.gz"):
        try:
            data: bytes = s3.get_object(Bucket=bucket.name, Key=key)["Body"].read()
            return gzip.decompress(data) if key.endswith(".gz") else data
        except s3.exceptions.NoSuchKey:
            continue
    raise InputError(f"no state for {project}/{stack} in s3://{bucket.name}/{base}.json")


register("s3", s3_locks)
