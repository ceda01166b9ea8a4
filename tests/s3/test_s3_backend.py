"""The local stack with its state in a real S3 bucket (SeaweedFS): up, a no-change preview, destroy;
two concurrent ups refused by the engine's lock; a stale lock reported and cleared the runbook's
way (docs/runbooks/locks.md); secrets encrypted in the raw object. Tests run in order."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ops.stack.locks import find_locks
from ops.stack.prepare import unlock
from ops.stack.s3_state import raw_checkpoint, s3_locks
from tests.processes import reap_session
from tests.s3.conftest import STACK, S3Fabric

PROJECT = "samakia-fabric"
CONTAINERS = {1101, 1102, 1201}


@pytest.fixture
def aws_env(s3fabric: S3Fabric, monkeypatch: pytest.MonkeyPatch) -> None:
    """The bucket's keys where an operator has them: this process's environment."""
    for key, value in s3fabric.store.env().items():
        monkeypatch.setenv(key, value)


def resources(f: S3Fabric) -> list[str]:
    state = json.loads(f.pulumi("stack", "export").stdout)
    return sorted(r["urn"] for r in state["deployment"].get("resources") or [])


def lock_appears(f: S3Fabric, proc: subprocess.Popen[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the first up ended before its lock was seen"
        if s3_locks(f.store.backend_url(), PROJECT, STACK):
            return
        time.sleep(0.2)
    raise AssertionError("no lock document appeared in the bucket")


@pytest.fixture
def slow_pve(s3fabric: S3Fabric) -> Iterator[None]:
    """Every API answer of the local Proxmox takes a second while the test runs: an apply then
    lasts long enough to be overlapped or killed midway."""
    pve = s3fabric.pve.pve
    pve.time_scale = 1.0
    pve.slow_network(1.0)
    try:
        yield
    finally:
        pve.slow_network(0.0)
        pve.time_scale = 0


def start_up(f: S3Fabric) -> subprocess.Popen[str]:
    """A ``pulumi up`` in its own process group (so a test can kill all of it, as a lost runner would)."""
    argv = f.ws.argv("up", "--yes", "--skip-preview")
    return subprocess.Popen(
        argv,
        cwd=f.project,
        env=f.ws.env_for("up"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def test_up_a_no_change_preview_and_the_state_in_the_bucket(s3fabric: S3Fabric, aws_env: None) -> None:
    s3fabric.pulumi("up", "--yes", "--skip-preview")
    s3fabric.pulumi("preview", "--expect-no-changes")
    checkpoint = json.loads(raw_checkpoint(s3fabric.store.backend_url(), PROJECT, STACK))
    vmids = {
        int(r["outputs"]["vmId"])
        for r in checkpoint["checkpoint"]["latest"]["resources"]
        if r["type"] == "proxmoxve:index/containerLegacy:ContainerLegacy"
    }
    assert vmids == CONTAINERS == set(s3fabric.api.containers())
    assert not list((s3fabric.project / ".state" / "pulumi").rglob("*.json"))  # nothing in the file backend


def test_a_second_concurrent_up_is_refused_by_the_lock_and_the_state_stays_intact(
    s3fabric: S3Fabric, aws_env: None, slow_pve: None
) -> None:
    before = resources(s3fabric)
    s3fabric.pulumi("config", "set", "--path", "fabric:containers.dns-2.memoryMb", "768")
    first = start_up(s3fabric)
    try:
        lock_appears(s3fabric, first)
        second = s3fabric.pulumi("up", "--yes", "--skip-preview", check=False)
        out = second.stdout + second.stderr
        assert second.returncode != 0
        assert "the stack is currently locked by 1 lock(s)" in out, out[-2000:]
        (lock,) = s3_locks(s3fabric.store.backend_url(), PROJECT, STACK)
        assert lock.where in out and f"(pid {lock.pid})" in out  # the message names the holder
    finally:
        first_out, _ = first.communicate(timeout=600)
    assert first.returncode == 0, first_out[-3000:]
    assert resources(s3fabric) == before  # the refused run changed nothing; the first one updated in place
    assert s3_locks(s3fabric.store.backend_url(), PROJECT, STACK) == []
    s3fabric.pulumi("preview", "--expect-no-changes")


def test_a_stale_lock_of_a_killed_apply_is_reported_and_cleared_the_runbooks_way(
    s3fabric: S3Fabric, aws_env: None, slow_pve: None, capsys: pytest.CaptureFixture[str]
) -> None:
    s3fabric.pulumi("config", "set", "--path", "fabric:containers.dns-2.memoryMb", "1024")
    killed = start_up(s3fabric)
    lock_appears(s3fabric, killed)
    time.sleep(3)  # midway: the engine is talking to the (slowed) Proxmox
    os.killpg(killed.pid, signal.SIGKILL)  # the runner is lost: nothing of the apply runs on
    killed.communicate(timeout=60)
    reap_session(killed.pid)  # the language host sits in its own process group of the same session
    # Reported: the lock names the dead process, and the next run says who holds it.
    (lock,) = s3_locks(s3fabric.store.backend_url(), PROJECT, STACK)
    assert lock.pid == killed.pid and lock.where.startswith("s3://fabric-state/.pulumi/locks/organization/")
    assert find_locks(s3fabric.ws.env, PROJECT, STACK) == [lock]  # the runner's finder reads the bucket
    assert lock.stale()  # this host, and the pid runs no engine any more
    blocked = s3fabric.pulumi("up", "--yes", "--skip-preview", check=False)
    assert blocked.returncode != 0 and "currently locked" in blocked.stdout + blocked.stderr
    assert lock.where in blocked.stdout + blocked.stderr
    # The runbook (docs/runbooks/locks.md): `make unlock` reports the lock, refuses a live one, and
    # clears a dead one with `pulumi cancel` (the stack's lock documents only); then apply again.
    unlock(s3fabric.ws)
    reported = capsys.readouterr().out
    assert f"(pid {killed.pid})" in reported and "stale: their process is gone" in reported, reported
    assert s3_locks(s3fabric.store.backend_url(), PROJECT, STACK) == []
    s3fabric.pulumi("up", "--yes", "--skip-preview", "--refresh")
    s3fabric.pulumi("preview", "--expect-no-changes", "--refresh")


def test_secrets_stay_encrypted_in_the_raw_object(s3fabric: S3Fabric, aws_env: None) -> None:
    raw = raw_checkpoint(s3fabric.store.backend_url(), PROJECT, STACK).decode()
    checkpoint = json.loads(raw)
    provider = checkpoint["checkpoint"]["latest"]["secrets_providers"]
    assert provider["type"] == "passphrase" and provider["state"]["salt"].startswith("v1:")
    state = s3fabric.project / ".state"
    for secret in (
        (state / "passphrase").read_text().strip(),
        (state / "pve" / "password").read_text().strip(),
        s3fabric.store.secret_key,
    ):
        assert secret not in raw


def test_a_secret_value_is_ciphertext_in_the_bucket(s3fabric: S3Fabric, aws_env: None, tmp_path: Path) -> None:
    """A stack that does hold a secret (a `--secret` config value exported as a secret output; the
    fabric itself puts none in state) stores it encrypted by the passphrase in the same bucket."""
    (tmp_path / "Pulumi.yaml").write_text(
        "name: secret-probe\nruntime:\n  name: python\n  options:\n    toolchain: pip\n    virtualenv: .venv\n"
    )
    (tmp_path / ".venv").symlink_to(s3fabric.project / ".venv")
    (tmp_path / "__main__.py").write_text(
        "import pulumi\npulumi.export('token', pulumi.Config().require_secret('token'))\n"
    )
    env = {**s3fabric.ws.env, "PULUMI_CONFIG_PASSPHRASE": "probe-passphrase-not-a-real-one"}

    def pulumi(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["pulumi", *args, "--non-interactive"],
            cwd=tmp_path,
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        return result

    plaintext = "probe-" + os.urandom(12).hex()
    pulumi("stack", "init", "probe")
    pulumi("config", "set", "--secret", "token", stdin=plaintext)  # from stdin, never argv
    pulumi("up", "--yes", "--skip-preview", "--stack", "probe")
    raw = raw_checkpoint(s3fabric.store.backend_url(), "secret-probe", "probe").decode()
    assert plaintext not in raw
    token = json.loads(raw)["checkpoint"]["latest"]["resources"][0]["outputs"]["token"]
    assert token["4dabf18193072939515e22adb298388d"] == "1b47061264138c4ac30d75fd1eb44270"  # Pulumi's secret sig
    assert token["ciphertext"].startswith("v1:")
    pulumi("destroy", "--yes", "--skip-preview", "--stack", "probe")
    pulumi("stack", "rm", "--yes", "probe")


def test_destroy_empties_the_stack_in_the_bucket(s3fabric: S3Fabric, aws_env: None) -> None:
    s3fabric.pulumi("destroy", "--yes", "--skip-preview")
    assert s3fabric.api.containers() == {}
    checkpoint = json.loads(raw_checkpoint(s3fabric.store.backend_url(), PROJECT, STACK))
    left = [r["type"] for r in checkpoint["checkpoint"]["latest"].get("resources") or []]
    assert not [t for t in left if t.startswith("proxmoxve:index/containerLegacy")]
