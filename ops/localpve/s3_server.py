"""A real S3-compatible store on loopback: SeaweedFS's ``weed mini``, for state kept in a bucket.

The S3 tier and the scale benchmark keep Pulumi's state where a team keeps it: in an S3 bucket,
through the engine's own DIY backend (``PULUMI_BACKEND_URL=s3://BUCKET?endpoint=...``). The
server is SeaweedFS (Apache-2.0; MinIO's server is AGPL), built from the Go module proxy by
``scripts/seaweedfs.sh`` and cached by version. ``weed mini`` runs master, volume, filer and the
S3 gateway in one process; everything else it can start (WebDAV, the admin UI, Iceberg and
Lance endpoints) is switched off, and every port binds the lane's loopback address only.

The access key pair is generated per run and reaches the server in its ``-s3.config`` file
(mode 0600, never argv) and the engine through ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``
(the environment, never the URL). Flags read: seaweedfs weed/command/mini.go (``cmdMini``).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fabric.paths import PROJECT_ROOT
from ops.localpve.lane import loopback

REGION = "us-east-1"
"""What the S3 client signs for; SeaweedFS accepts any, the engine's client needs one."""
BUCKET = "fabric-state"
STARTUP_S = 120.0


@dataclass(frozen=True)
class S3Store:
    """A running S3 endpoint, the bucket the state goes in, and the credentials for it."""

    host: str
    port: int
    bucket: str
    access_key: str
    secret_key: str
    data_dir: Path
    pid: int
    """The server's process (the benchmark reads its CPU time)."""

    @property
    def endpoint(self) -> str:
        """``host:port`` as the engine's ``endpoint`` query parameter takes it."""
        return f"{self.host}:{self.port}"

    def backend_url(self, prefix: str = "") -> str:
        """The ``PULUMI_BACKEND_URL`` of this bucket (gocloud's s3blob URL options: plain HTTP on
        loopback, path-style addressing since a dotted host has no bucket subdomains).

        ``prefix`` keeps several projects' state apart in one bucket (``s3://bucket/prefix``).
        """
        query = urlencode(
            {"endpoint": f"http://{self.endpoint}", "s3ForcePathStyle": "true", "region": REGION}, safe=":/"
        )
        path = f"/{prefix.strip('/')}" if prefix else ""
        return f"s3://{self.bucket}{path}?{query}"

    def env(self, prefix: str = "") -> dict[str, str]:
        """What the engine needs to use the bucket: the backend URL and the keys, in the environment."""
        return {
            "PULUMI_BACKEND_URL": self.backend_url(prefix),
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": REGION,
        }


def s3_client(endpoint_url: str, access_key: str, secret_key: str, region: str = REGION) -> Any:
    """A boto3 S3 client for an S3-compatible endpoint, path-style (as the engine's URL asks)."""
    import boto3  # imported here: only the S3 paths need it
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name=region,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
    )


def weed_binary() -> Path:
    """The cached ``weed`` (built on first use, under its lock: ``scripts/seaweedfs.sh``)."""
    out = subprocess.run(
        ["bash", str(PROJECT_ROOT / "scripts" / "seaweedfs.sh")],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"scripts/seaweedfs.sh failed (exit {out.returncode}):\n{out.stderr[-3000:]}")
    return Path(out.stdout.strip().splitlines()[-1])


PORT_BASE = 20000
"""First HTTP port of the servers' block; each gRPC port is its HTTP port + 10000 (SeaweedFS's
default offset), so the blocks span 20000-22499 and 30000-32499: below Linux's ephemeral floor
(32768), clear of every other port the checkouts bind."""
SERVICES = ("master", "volume", "filer", "s3", "admin")
HOSTS_PER_LANE = 50


def server_ports(host: str) -> dict[str, int]:
    """The HTTP ports of the server on ``host`` (``127.LANE.0.N``): a block of its own per lane and
    address, not one per lane.

    Why not the lane's ports on every address: ``weed mini`` also serves each gRPC service on a
    Unix socket named by its port alone (``seaweedfs-<service>-grpc-<port>.sock`` in the temporary directory, seaweedfs
    weed/command/mini.go, the ``pb.RegisterLocalGrpcSocket`` calls in ``runMini``) and dials its
    own services through it. A second server on the same ports (the S3 tier beside the scale
    benchmark, another lane's admin port) deletes the first's socket file and binds its own
    (weed/pb/grpc_client_server.go, ``ListenOnLocalSocket``), and removes it when it stops. The
    first server's open channels survive, but once one idles past grpc-go's 30 minutes
    (google.golang.org/grpc dialoptions.go, ``idleTimeout``) its next dial finds no socket: the
    S3 gateway can no longer reach its filer and answers ``500 InternalError`` (reproduced: a PUT
    after 31 idle minutes, ``dial unix .../seaweedfs-filer-grpc-<port>.sock: no such file``),
    which matches the scale benchmark's S3 run failing at 500 containers (its server had idled
    37 minutes while the file backend ran, and the S3 tier, on the same ports, ran around it).
    Distinct ports give every server distinct socket paths.
    """
    octets = host.split(".")
    lane, last = int(octets[1]), int(octets[3])
    if octets[0] != "127" or last >= HOSTS_PER_LANE:
        raise SystemExit(
            f"SeaweedFS host {host}: expected a lane loopback address 127.LANE.0.N with N < {HOSTS_PER_LANE}"
        )
    first = PORT_BASE + len(SERVICES) * (HOSTS_PER_LANE * lane + last)
    return {name: first + k for k, name in enumerate(SERVICES)}


def _wait_for(host: str, p: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = STARTUP_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"weed mini exited {proc.returncode} while starting:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(OSError), socket.create_connection((host, p), timeout=1):
            return
        time.sleep(0.3)
    raise SystemExit(f"weed mini did not listen on {host}:{p} within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def _bucket_ready(store: S3Store, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Wait until the pre-created bucket answers a signed request (the gateway listens before the
    filer has it)."""
    s3 = s3_client(f"http://{store.endpoint}", store.access_key, store.secret_key)
    deadline = time.monotonic() + STARTUP_S
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"weed mini exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            s3.head_bucket(Bucket=store.bucket)
            return
        except Exception as err:
            last = err
            time.sleep(0.5)
    raise SystemExit(f"bucket {store.bucket} never became usable: {last}\n{log.read_text()[-3000:]}")


@contextlib.contextmanager
def seaweedfs(state_dir: Path, *, host: str | None = None, bucket: str = BUCKET) -> Iterator[S3Store]:
    """Start SeaweedFS on the lane's loopback address with ``bucket`` made; stop it on the way out,
    also on failure (the process group is killed, so nothing of it outlives the block)."""
    host = host or loopback(6)
    ports = server_ports(host)
    data = state_dir / "seaweedfs"
    data.mkdir(parents=True, exist_ok=True)
    access, secret = "fabric" + secrets.token_hex(6), secrets.token_urlsafe(30)
    config = data / "s3.json"
    fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        identity = {"name": "fabric", "credentials": [{"accessKey": access, "secretKey": secret}]}
        identity["actions"] = ["Admin", "Read", "List", "Tagging", "Write"]
        json.dump({"identities": [identity]}, fh)
    cmd = [
        str(weed_binary()),
        "mini",
        f"-dir={data}",
        f"-ip={host}",
        f"-ip.bind={host}",
        f"-master.port={ports['master']}",
        f"-volume.port={ports['volume']}",
        f"-filer.port={ports['filer']}",
        f"-s3.port={ports['s3']}",
        f"-admin.port={ports['admin']}",
        "-admin.port.legacy=0",
        "-master.telemetry=false",  # it reports to a server on the internet by default
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-webdav=false",
        "-admin.ui=false",
        f"-s3.config={config}",
        f"-bucket={bucket}",
    ]
    log = data / "weed.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    store = S3Store(host, ports["s3"], bucket, access, secret, data, proc.pid)
    try:
        _wait_for(host, ports["s3"], proc, log)
        _bucket_ready(store, proc, log)
        yield store
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
