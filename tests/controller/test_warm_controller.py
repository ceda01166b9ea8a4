"""The warm controller tier: ConfigPolicy commands of one apply sharing one Ansible controller.

Real parts: ``python3 -m fabric.runtime.apply_policy`` started as Pulumi's command provider starts
it (request on stdin, the project as working directory), the controller it starts, real
``ansible-playbook`` with Mitogen over SSH, and real LXC containers (``ops.localpve.boxes``) on a
bridge of this tier's own (10.86.LANE.0/24, names tagged with the lane), removed at the end, also
on failure. The playbook is ``probe.yml`` beside this file. Chroot targets go through the same
controller (``community.general.chroot`` on a copy of the playbook tier's Debian root).
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fabric.runtime.ansible_run import ChrootTarget
from fabric.runtime.controller_client import SOCKET_ENV, ControllerKey, controller_socket, run_through_controller
from ops.config import rootfs
from ops.localpve.boxes import Box, Boxes, boxes_on_bridge
from tests.lane import lxc_tag, subnet

ROOT = Path(__file__).resolve().parents[2]
PROBE = Path(__file__).with_name("probe.yml")
NET = subnet(86).rstrip(".")
KEY_ENV = "PROBE_SSH_KEY"


@dataclass
class Tier:
    boxes: Boxes
    targets: list[Box]
    key: Path
    project: Path

    def request(self, box: Box, variables: dict[str, Any], instance: str | None = None) -> str:
        variables = {"fabric_admin_user": "root", **variables}
        return json.dumps(box.policy_request(str(PROBE), variables, KEY_ENV, ".state/known_hosts", instance))

    def env(self, stack: str, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SAMAKIA_CONTROLLER")}
        # Each test its own stack name, so its own controller (they are keyed by stack).
        env.update({"PYTHONPATH": str(ROOT), KEY_ENV: str(self.key), "SAMAKIA_STACK": stack})
        # Run slots of this tier's own: other checkouts' runs on this machine never hold it up.
        env["SAMAKIA_CACHE"] = str(self.project / "cache")
        env.update(extra)
        return env

    def command(self, box: Box, variables: dict[str, Any], **kw: Any) -> subprocess.Popen[str]:
        """One ConfigPolicy command, as the command provider starts it."""
        stdin = kw.pop("stdin", subprocess.PIPE)
        proc = subprocess.Popen(
            [sys.executable, "-m", "fabric.runtime.apply_policy"],
            cwd=self.project,
            env=self.env(kw.pop("stack", "controller-tier"), **kw.pop("env", {})),
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        if stdin == subprocess.PIPE:
            assert proc.stdin is not None
            proc.stdin.write(self.request(box, variables, kw.pop("instance", None)))
            proc.stdin.close()
            proc.stdin = None  # written and closed: communicate() must not flush it
        return proc

    def socket(self, stack: str) -> Path:
        return next((self.project / ".state" / "controllers").glob(f"{stack}-*.sock"))

    def value_on(self, box: Box) -> str:
        return self.boxes.attach(box, "cat", "/srv/probe-value").stdout.strip()


def finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out, err


def controller_processes(sock: Path) -> list[int]:
    """Every process the controller of ``sock`` is or started (they carry its socket in their environment)."""
    marker = f"{SOCKET_ENV}={sock}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def wait_until(predicate: Any, bound_s: float, what: str, detail: Any = None) -> None:
    deadline = time.monotonic() + bound_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {bound_s:.0f}s: {what}" + (f": {detail()}" if detail else ""))
        time.sleep(0.2)


def describe(pids: list[int]) -> list[str]:
    """The command lines of ``pids`` (for a failure message)."""
    out = []
    for pid in pids:
        try:
            out.append(f"{pid}: " + Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:200])
        except OSError:
            continue
    return out


@pytest.fixture(scope="module")
def tier(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tier]:
    scratch = tmp_path_factory.mktemp("controller")
    key = scratch / "id_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "probe", "-f", str(key)],
        check=True,
        stdin=subprocess.DEVNULL,
    )
    project = scratch / "project"
    project.mkdir()
    with boxes_on_bridge(scratch, NET, lxc_tag("w"), key.with_suffix(".pub").read_text()) as boxes:
        targets = boxes.start_all(["probe-1", "probe-2"], 9861)
        yield Tier(boxes, targets, key, project)
        for sock in (project / ".state" / "controllers").glob("*.sock"):
            for pid in controller_processes(sock):  # a failed test's controller: ours, by its socket
                os.kill(pid, signal.SIGKILL)


def test_a_failing_target_fails_only_its_own_command(tier: Tier) -> None:
    one, two = tier.targets
    failing = tier.command(one, {"probe_fail": True, "probe_value": "one"})
    passing = tier.command(two, {"probe_value": "two-a"})
    code_f, out_f, err_f = finish(failing)
    code_p, out_p, err_p = finish(passing)
    # One batch of two: the failing target ran beside the other one.
    assert "batch" in err_f and "of 2 target(s)" in err_f, err_f
    assert err_f.split("controller: ")[1].split(" of")[0] == err_p.split("controller: ")[1].split(" of")[0]
    assert code_f == 1 and "failed=1" in out_f and "probe-1 was asked to fail" in err_f
    assert code_p == 0, err_p
    assert out_p.strip().startswith("probe-2: ok=") and "failed=0" in out_p
    # Each command reports its own target only.
    assert "probe-2" not in out_f + err_f and "probe-1" not in out_p + err_p
    assert tier.value_on(two) == "two-a"


def test_variables_never_cross_targets(tier: Tier) -> None:
    one, two = tier.targets
    first = tier.command(one, {"probe_value": "value-of-one", "only_one": "x", "probe_other_var": "only_two"})
    second = tier.command(two, {"probe_value": "value-of-two", "only_two": "y", "probe_other_var": "only_one"})
    for proc in (first, second):
        code, out, err = finish(proc)
        assert code == 0, out + err
        assert "of 2 target(s)" in err, err  # in one batch
    assert (tier.value_on(one), tier.value_on(two)) == ("value-of-one", "value-of-two")


def test_a_replaced_container_is_pinned_afresh_not_reached_through_a_kept_connection(tier: Tier) -> None:
    one = tier.targets[0]
    env = {"SAMAKIA_CONTROLLER_IDLE_S": "120"}
    code, out, err = finish(tier.command(one, {"probe_value": "before"}, env=env, stack="replace"))
    assert code == 0, out + err
    sock = tier.socket("replace")
    server = controller_processes(sock)
    # Between batches the controller keeps no connection: only the server itself is left.
    assert len(server) == 1, server
    old_keys = tier.boxes.host_keys(one)
    fresh = tier.boxes.replace(one)
    tier.targets[0] = fresh
    # The same instance presenting new keys is refused before the controller is asked.
    code, out, err = finish(tier.command(fresh, {"probe_value": "x"}, env=env, instance=one.instance, stack="replace"))
    assert code == 2 and "changed, but the container was not replaced" in err, err
    # The new instance is pinned afresh and configured by the same, still running, controller.
    code, out, err = finish(tier.command(fresh, {"probe_value": "after"}, env=env, stack="replace"))
    assert code == 0, out + err
    assert server[0] in controller_processes(sock)
    pinned = (tier.project / ".state" / "known_hosts" / fresh.name).read_text()
    keys = {" ".join(ln.split()[1:3]) for ln in pinned.splitlines() if ln and not ln.startswith("#")}
    assert keys == tier.boxes.host_keys(fresh) and not keys & old_keys
    assert tier.value_on(fresh) == "after"
    os.kill(server[0], signal.SIGTERM)
    wait_until(lambda: not controller_processes(sock), 30, "the controller stopped")


def test_a_batch_that_ends_never_cancels_one_still_running(tier: Tier) -> None:
    """Commands leave as soon as they have their answer: that is no interruption, and a batch
    still running beside theirs goes on (the fleet's first up hit this)."""
    slow_box, quick_box = tier.targets
    tier.boxes.attach(slow_box, "rm", "-f", "/srv/probe-waiting")
    slow = tier.command(slow_box, {"probe_value": "slow", "probe_sleep_s": 20}, stack="overlap")
    try:
        wait_until(
            lambda: tier.boxes.attach(slow_box, "test", "-f", "/srv/probe-waiting").returncode == 0,
            120,
            "the slow target reached the waiting task",
        )
        code, out, err = finish(tier.command(quick_box, {"probe_value": "quick"}, stack="overlap"))
        assert code == 0 and "batch 2 of 1" in err, out + err
    finally:
        code, out, err = finish(slow)
    assert code == 0 and "batch 1 of 1" in err, out + err
    assert (tier.value_on(slow_box), tier.value_on(quick_box)) == ("slow", "quick")


def test_an_interrupted_apply_leaves_nothing_running(tier: Tier) -> None:
    env = {"SAMAKIA_CONTROLLER_IDLE_S": "600"}  # only the interruption may end it
    for box in tier.targets:
        tier.boxes.attach(box, "rm", "-f", "/srv/probe-waiting")
    variables = {"probe_value": "never", "probe_sleep_s": 600}
    procs = [tier.command(box, variables, env=env, stack="interrupt") for box in tier.targets]
    try:
        wait_until(
            lambda: all(tier.boxes.attach(b, "test", "-f", "/srv/probe-waiting").returncode == 0 for b in tier.targets),
            120,
            "both targets reached the waiting task",
        )
        sock = tier.socket("interrupt")
        assert len(controller_processes(sock)) > 1  # the server, ansible-playbook, its workers, SSH
    finally:
        for proc in procs:  # the apply is killed: its commands die without a word
            proc.kill()
            proc.communicate()
    wait_until(
        lambda: not controller_processes(sock),
        60,
        "every process of the controller ended",
        lambda: describe(controller_processes(sock)),
    )
    assert not sock.exists()
    for box in tier.targets:
        assert tier.value_on(box) != "never"


def _nonblocking_stdin(request: str) -> int:
    read, write = os.pipe()
    os.write(write, request.encode())
    os.close(write)
    fcntl.fcntl(read, fcntl.F_SETFL, fcntl.fcntl(read, fcntl.F_GETFL) | os.O_NONBLOCK)
    return read


@pytest.mark.parametrize("controller", ["on", "off"])
def test_no_ansible_run_inherits_stdin(tier: Tier, controller: str) -> None:
    """A non-blocking stdin (a background shell's, shared by two runs) never reaches Ansible,
    which refuses to start on one: both paths give it /dev/null."""
    box = tier.targets[1]
    fd = _nonblocking_stdin(tier.request(box, {"probe_value": f"stdin-{controller}"}))
    try:
        proc = tier.command(box, {}, stdin=fd, env={"SAMAKIA_ANSIBLE_CONTROLLER": controller})
    finally:
        os.close(fd)
    code, out, err = finish(proc)
    assert code == 0, out + err
    assert "Non-blocking" not in err
    assert ("ran on its own" in err) == (controller == "off"), err
    assert tier.value_on(box) == f"stdin-{controller}"


def test_a_controller_that_cannot_start_falls_back_and_says_so(tier: Tier) -> None:
    """A sockets directory others could enter is refused: the command runs on its own, and says so."""
    box = tier.targets[1]
    shared = tier.project / "shared-sockets"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    code, out, err = finish(tier.command(box, {"probe_value": "fallback"}, env={"SAMAKIA_CONTROLLER_DIR": str(shared)}))
    assert code == 0, out + err
    assert "controller: unavailable (" in err and "with mode 0700" in err and "ran on its own" in err, err
    assert not list(shared.iterdir())
    assert tier.value_on(box) == "fallback"


def test_chroot_targets_take_the_same_path(tmp_path: Path) -> None:
    """Two chroot targets in one batch, each with its own value: a copy of the playbook tier's
    Debian root (``ops.config.rootfs``, built once and cached), entered under two names."""
    root = rootfs.copy_root(rootfs.ensure_rootfs(), tmp_path / "root")
    key = ControllerKey("controller-tier-chroot", "probe", tmp_path)
    env = {**os.environ, "SAMAKIA_CONTROLLER_IDLE_S": "1", "SAMAKIA_CACHE": str(tmp_path / "cache")}

    def run(name: str) -> Any:
        target = ChrootTarget(root, name=name)
        variables = {"probe_value": f"value-of-{name}", "probe_other_var": f"only_{name}_x", f"only_{name}": 1}
        return run_through_controller(key, target, PROBE, variables, env=env)

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(run, ["chroot-a", "chroot-b"]))
    assert [r.size for r in results] == [2, 2] and results[0].batch == results[1].batch
    assert all(r.recap.succeeded for r in results), [r.recap.summary() for r in results]
    assert [list(r.recap.hosts) for r in results] == [["chroot-a"], ["chroot-b"]]
    # One root under two names: the later writer wins, and it wrote its own value.
    assert (root / "srv" / "probe-value").read_text().strip() in ("value-of-chroot-a", "value-of-chroot-b")
    wait_until(lambda: not controller_processes(controller_socket(key, env)), 30, "the idle controller exited")
