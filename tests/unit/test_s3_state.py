"""The S3 backend URL a team writes, and the local fabric's default backend (the file one)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fabric.errors import InputError
from ops.localpve.s3_server import S3Store, server_ports
from ops.localpve.services import base_env
from ops.stack.locks import FINDERS
from ops.stack.s3_state import parse_backend, s3_locks


def test_the_readmes_backend_url_names_bucket_endpoint_and_region() -> None:
    url = (
        "s3://samakia-state/team-a?endpoint=https://s3.example.internal:9000&s3ForcePathStyle=true&region=eu-central-1"
    )
    bucket = parse_backend(url)
    assert (bucket.name, bucket.prefix, bucket.endpoint, bucket.region) == (
        "samakia-state",
        "team-a",
        "https://s3.example.internal:9000",
        "eu-central-1",
    )
    assert (
        bucket.key(".pulumi", "stacks", "samakia-fabric", "prod.json")
        == "team-a/.pulumi/stacks/samakia-fabric/prod.json"
    )
    with pytest.raises(InputError, match="not an s3://BUCKET URL"):
        parse_backend("file:///var/state")


def test_the_test_servers_url_round_trips_and_keeps_keys_out_of_it() -> None:
    store = S3Store("127.4.0.21", 18733, "fabric-state", "fabricabc", "s3cr3t-value", Path("/nonexistent"), 1)
    env = store.env(prefix="raw-100")
    assert "s3cr3t-value" not in env["PULUMI_BACKEND_URL"] and env["AWS_SECRET_ACCESS_KEY"] == "s3cr3t-value"
    bucket = parse_backend(env["PULUMI_BACKEND_URL"])
    assert (bucket.name, bucket.prefix, bucket.endpoint) == ("fabric-state", "raw-100", "http://127.4.0.21:18733")


def test_the_stack_runner_reads_s3_locks_with_the_s3_finder() -> None:
    import ops.stack.cli  # noqa: F401 - the runner's entry registers the finder

    assert FINDERS["s3"] is s3_locks


def test_the_local_fabric_keeps_the_file_backend_unless_told_otherwise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)
    env = base_env(tmp_path, tmp_path / ".state")
    assert env["PULUMI_BACKEND_URL"] == f"file://{tmp_path / '.state' / 'pulumi'}"


def test_every_s3_server_address_gets_ports_and_socket_names_of_its_own() -> None:
    """The S3 tier (.21) and the scale benchmark's two slots (.6, .26), in every lane, never share a
    port: weed names its gRPC Unix sockets by port alone, and a second server on the same ports
    takes the first one's sockets away (ops/localpve/s3_server.py, ``server_ports``)."""
    blocks = [server_ports(f"127.{lane}.0.{last}") for lane in range(10) for last in (6, 21, 26, 49)]
    http = [p for block in blocks for p in block.values()]
    grpc = [p + 10000 for p in http]
    assert len(set(http + grpc)) == len(http) + len(grpc)
    assert max(grpc) < 32768  # below Linux's ephemeral ports, which an outbound connection may take
    with pytest.raises(SystemExit, match=r"127\.4\.0\.50"):
        server_ports("127.4.0.50")
