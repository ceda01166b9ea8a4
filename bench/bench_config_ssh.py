"""Benchmark: the configuration policy over SSH on real LXC containers, before and after.

    python bench/bench_config_ssh.py [--no-write]   # prints the tables, updates docs/benchmarks.md

The local stack's two container shapes (a resolver with the ``dns`` profile, a database with
``postgresql``) are created from a local ``debian12-base`` build as unprivileged LXC
containers on a bridge of their own, with the local package mirror on the bridge's gateway
(nothing is forwarded). Each is configured as ConfigPolicy configures it: over SSH with its
host key pinned at first contact, the first run as root by key, the converged run as the admin
user with sudo, both at once (``run_playbook`` bounds them to one per CPU).

Measured in the same run, each on fresh containers:

* **baseline**: ``playbooks/`` and the image code at ``SSH_BASELINE_REF`` (before the first
  run's speed work: the image carried no policy package, so every first run installed them);
* **current**: this checkout's ``playbooks/`` on the image the local stack runs (``CURRENT_IMAGE``,
  built from this checkout's image code);
* **current, one at a time**: the same on fresh containers, each container's run alone (what
  a stack with one container per CPU slot sees);
* what the connection layer buys: the current converged run again on Ansible's own SSH
  strategy (``SAMAKIA_ANSIBLE_STRATEGY=linear``: pipelining and ControlPersist on), and with
  those two off as well (``ANSIBLE_PIPELINING=False``, ``ControlMaster=no``);
* the floor: a playbook of one ``ping`` task over the same connection (Mitogen, the admin user
  with sudo), one at a time and both at once: what any policy run costs before its first task.

Per container, a run's seconds exclude the wait for a run slot (``Recap.duration_s``); the
batch's wall time includes it (what ``make up`` waits for). Never a test: no timed assertion.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO)]

from bench.report import write_section  # noqa: E402
from fabric.paths import cache_root  # noqa: E402
from fabric.runtime.ansible_run import Recap, SshTarget, run_playbook  # noqa: E402
from fabric.runtime.ssh_hosts import pin_host_key, ssh_options, wait_for_sshd  # noqa: E402
from ops.images.provenance import worktree_at  # noqa: E402
from ops.localpve.lane import LANE  # noqa: E402
from ops.localpve.lxc import LxcNode  # noqa: E402
from ops.localpve.package_mirror import serve_package_mirror  # noqa: E402
from ops.localpve.services import local_build  # noqa: E402

# The benchmark's own subnet, moved by the test lane like every address a checkout binds.
NET = f"10.78.{LANE}"
GATEWAY = f"{NET}.1"
# The local stack's two shapes (its second resolver is the first one again).
CONTAINERS = {"dns-1": (9111, ["dns"]), "db-1": (9121, ["postgresql"])}
ADMIN = "samakia"
FAMILY = "debian12-base"
# Before this round's first-run work (policy and image as they were); the label its image had.
SSH_BASELINE_REF, BASELINE_IMAGE = "52ced35", "1.1.0"
CURRENT_IMAGE = "1.2.0"  # Pulumi.local.yaml's
LINEAR = {"SAMAKIA_ANSIBLE_STRATEGY": "linear"}  # Ansible's own SSH connection, without Mitogen


@dataclass(frozen=True)
class Box:
    """One running container: its name, address and pinned known_hosts file."""

    name: str
    vmid: int
    address: str
    profiles: list[str]
    known_hosts: Path


@dataclass(frozen=True)
class Batch:
    """One run over every container at once."""

    recaps: dict[str, Recap]
    wall_s: float


def template(version: str, scratch: Path, images_dir: Path | None = None) -> Path:
    """A local build of the image (cached by its code's digest: built once per machine)."""
    return local_build(FAMILY, version, scratch / f"catalog-{version}.yaml", images_dir)


def pve_config(name: str, address: str) -> dict[str, object]:
    return {
        "hostname": name,
        "memory": 1024,
        "swap": 512,
        "cores": 1,
        "nameserver": GATEWAY,
        "net0": f"name=eth0,bridge=vmbr0,ip={address}/24,gw={GATEWAY}",
    }


@dataclass
class Fabric:
    """The benchmark's LXC instance, bridge, key and mirror."""

    node: LxcNode
    bridge: str
    key: Path
    mirror: str

    def start_boxes(self, known_dir: Path, image: Path) -> list[Box]:
        """Create and start every container, wait for sshd, pin its host key, point apt at the mirror."""
        boxes = []
        pub = self.key.with_suffix(".pub").read_text()
        bridges = {"vmbr0": self.bridge}
        for name, (vmid, profiles) in CONTAINERS.items():
            address = f"{NET}.{vmid % 100 + 10}"
            config = pve_config(name, address)
            self.node.create(vmid, image, unprivileged=True, ssh_keys=pub, config=config, bridges=bridges)
            self.node.start(vmid, config, bridges)
            boxes.append(Box(name, vmid, address, profiles, known_dir / name))
        for box in boxes:
            wait_for_sshd(box.address, timeout=120, name=box.name)
            pin_host_key(known_dir, box.name, f"bench-{box.vmid}", box.address)
            # The template's sources name Debian's archive, unreachable from the bridge: both
            # policies start from a root that uses the mirror (what the stack's mirror setting does).
            subprocess.run(
                self.node.command("lxc-attach", box.vmid, "--", "sh", "-c",
                                  f"echo 'deb {self.mirror}/debian bookworm main' > /etc/apt/sources.list"),
                check=True,
                timeout=60,
            )  # fmt: skip
        return boxes

    def policy_vars(self, box: Box) -> dict[str, object]:
        return {
            "fabric_hostname": box.name,
            "fabric_admin_user": ADMIN,
            "fabric_admin_ssh_keys": [self.key.with_suffix(".pub").read_text().strip()],
            "fabric_runtime_profiles": box.profiles,
            "fabric_policy_version": "bench",
            "baseline_apt_mirror": f"{self.mirror}/debian",
            "baseline_apt_security_mirror": f"{self.mirror}/debian-security",
        }

    def run_all(
        self, boxes: list[Box], playbook: Path, user: str, env: dict[str, str] | None = None, *, alone: bool = False
    ) -> Batch:
        """The policy on every container at once (bounded by the run slots), or one after the
        other when ``alone``; fails loudly."""
        # Multiplexed connections of this set of containers only: a later set reuses the addresses.
        control = str(boxes[0].known_hosts.parent / "cp")
        run_env = {**os.environ, **(env or {}), "ANSIBLE_SSH_CONTROL_PATH_DIR": control}

        def one(box: Box) -> Recap:
            target = SshTarget(
                host=box.address,
                user=user,
                private_key=self.key,
                name=box.name,
                ssh_common_args=" ".join(ssh_options(box.known_hosts)),
            )
            return run_playbook(target, playbook, self.policy_vars(box), timeout=1800, env=run_env)

        started = time.monotonic()
        with ThreadPoolExecutor(1 if alone else len(boxes)) as pool:
            recaps = dict(zip([b.name for b in boxes], pool.map(one, boxes), strict=True))
        wall = time.monotonic() - started
        for name, recap in recaps.items():
            if not recap.succeeded:
                raise SystemExit(f"{playbook} on {name} as {user} failed:\n{recap.summary()}\n{recap.stderr_tail}")
        return Batch(recaps, wall)

    def variant(
        self,
        scratch: Path,
        playbook: Path,
        image: Path,
        extra: Callable[[list[Box]], None],
        env: dict[str, str] | None = None,
        *,
        alone: bool = False,
    ) -> tuple[Batch, Batch]:
        """Fresh containers; the first run (root by key), then the converged run (admin, sudo)."""
        boxes = self.start_boxes(scratch / "known_hosts", image)
        try:
            first = self.run_all(boxes, playbook, "root", env=env, alone=alone)
            converged = self.run_all(boxes, playbook, ADMIN, env=env, alone=alone)
            if any(r.changed for r in converged.recaps.values()):
                changed = [t.describe() for r in converged.recaps.values() for t in r.changed_tasks]
                raise SystemExit(f"{playbook}: the converged run changed something: {changed}")
            extra(boxes)
            return first, converged
        finally:
            for box in boxes:
                self.node.destroy(box.vmid)


def rows(label: str, first: Batch, converged: Batch, *, overlapped: bool = True) -> list[str]:
    """One row per container; then the batch's wall time, when its runs overlapped."""
    out = []
    for name in first.recaps:
        f, c = first.recaps[name], converged.recaps[name]
        out.append(
            f"| {name} | {label} | {f.duration_s:.1f} | {f.changed} | {c.duration_s:.1f} | {len(c.task_seconds)} |"
        )
    if overlapped:
        out.append(f"| both, wall time | {label} | {first.wall_s:.1f} | | {converged.wall_s:.1f} | |")
    return out


FLOOR_PLAY = """- name: One task, to measure what a run costs before its first task
  hosts: all
  gather_facts: false
  become: true
  tasks:
    - name: Ping
      ansible.builtin.ping:
"""


def measure() -> str:
    plain: dict[str, Batch] = {}
    with tempfile.TemporaryDirectory(prefix="samakia-bench-ssh-") as tmp, contextlib.ExitStack() as stack:
        scratch = Path(tmp)
        key = scratch / "id_ed25519"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bench", "-f", str(key)], check=True)
        # The baseline's policy and image code, from Git (a worktree: the build reads its history).
        baseline = stack.enter_context(worktree_at(REPO, SSH_BASELINE_REF, scratch / "baseline"))
        old_site = baseline / "playbooks" / "site.yml"
        new_site = REPO / "playbooks" / "site.yml"
        floor_site = scratch / "floor.yml"
        floor_site.write_text(FLOOR_PLAY)
        old_image = template(BASELINE_IMAGE, scratch, baseline / "images")
        new_image = template(CURRENT_IMAGE, scratch)
        node = LxcNode(scratch / "state")
        node.claim(ephemeral=True)
        try:
            bridge = node.ensure_bridge("vmbr0", GATEWAY, f"{NET}.0/24")
            with serve_package_mirror([GATEWAY], cache_root() / "apt-mirror") as (mirror,):
                fabric = Fabric(node, bridge, key, mirror)

                def without_pipelining(boxes: list[Box]) -> None:
                    plain["linear"] = fabric.run_all(boxes, new_site, ADMIN, env=LINEAR)
                    off = {**LINEAR, "ANSIBLE_PIPELINING": "False", "ANSIBLE_SSH_ARGS": "-o ControlMaster=no"}
                    plain["off"] = fabric.run_all(boxes, new_site, ADMIN, env=off)
                    plain["floor"] = fabric.run_all(boxes, floor_site, ADMIN)

                def floor_alone(boxes: list[Box]) -> None:
                    plain["floor alone"] = fabric.run_all(boxes, floor_site, ADMIN, alone=True)

                # The baseline ran on Ansible's own SSH connection (Mitogen came with this round).
                before = fabric.variant(scratch / "b", old_site, old_image, lambda _boxes: None, env=LINEAR)
                after = fabric.variant(scratch / "a", new_site, new_image, without_pipelining)
                alone = fabric.variant(scratch / "s", new_site, new_image, floor_alone, alone=True)
        finally:
            node.teardown()
            node.release()

    def worst(batch: Batch) -> float:
        return max(r.duration_s for r in batch.recaps.values())

    slowest = after[1].recaps["db-1"].slowest_tasks(8)
    slowest_first = after[0].recaps["db-1"].slowest_tasks(8)
    table = [*rows("baseline", *before), *rows("current", *after)]
    table += rows("current, one at a time", *alone, overlapped=False)
    table.append(
        f"| slowest container, **current / baseline** | | **{worst(after[0]) / worst(before[0]):.2f}** | | "
        f"**{worst(after[1]) / worst(before[1]):.2f}** | |"
    )
    off, linear, floor, floor_alone_batch = plain["off"], plain["linear"], plain["floor"], plain["floor alone"]
    return f"""Run: `python bench/bench_config_ssh.py` (part of `make bench`), {os.cpu_count()} CPUs shared with
other work (load average {os.getloadavg()[0]:.1f} at the end). Two unprivileged LXC containers
(1 core, 1 GiB each), the local stack's shapes, configured over
SSH with pinned host keys, both at once (at most one `ansible-playbook` per CPU); packages through
the local mirror. **Baseline** = `playbooks/` and the image code at `{SSH_BASELINE_REF}` (image
{BASELINE_IMAGE}: no policy package preinstalled; Ansible's own SSH with pipelining and
ControlPersist), **current** = this checkout's policy (Mitogen) on its {FAMILY} {CURRENT_IMAGE},
each on fresh containers in this same run. First run: root by key; converged
run: the admin user with sudo (must report changed=0). Seconds per container exclude the wait for a
run slot; the wall time of the two includes it. "One at a time": fresh containers again, each
run alone on the machine.

| container | policy | first run s | first changed | converged s | tasks visited |
| --- | --- | ---: | ---: | ---: | ---: |
{chr(10).join(table)}

The connection layer (current policy, converged run, both at once):

| connection | slowest container s | wall time s |
| --- | ---: | ---: |
| Mitogen (`mitogen_linear`, the default for SSH targets) | {worst(after[1]):.1f} | {after[1].wall_s:.1f} |
| Ansible's SSH, pipelining and ControlPersist on | {worst(linear):.1f} | {linear.wall_s:.1f} |
| Ansible's SSH: both off | {worst(off):.1f} | {off.wall_s:.1f} |
| **Mitogen / Ansible's SSH** | **{worst(after[1]) / worst(linear):.2f}** | **{after[1].wall_s / linear.wall_s:.2f}** |

The floor: one `ping` task over the same connection (Mitogen, the admin user, sudo), i.e. the
`ansible-playbook` start, the SSH connection, the remote interpreter and sudo's, and one module:

| runs | slowest container s | wall time s |
| --- | ---: | ---: |
| one at a time | {worst(floor_alone_batch):.1f} | {floor_alone_batch.wall_s:.1f} |
| both at once | {worst(floor):.1f} | {floor.wall_s:.1f} |

Slowest tasks on db-1 (current), first run:

| task | seconds |
| --- | ---: |
{chr(10).join(f"| {name} | {seconds:.2f} |" for name, seconds in slowest_first)}

and converged run:

| task | seconds |
| --- | ---: |
{chr(10).join(f"| {name} | {seconds:.2f} |" for name, seconds in slowest)}
"""


def _stop(signum: int, _frame: object) -> None:
    raise SystemExit(f"stopped by signal {signum}")  # the teardown in measure() still runs


def main() -> int:
    signal.signal(signal.SIGTERM, _stop)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    body = measure()
    print(body)
    if not args.no_write:
        write_section("Configuration over SSH on real containers", body)
        print("recorded in docs/benchmarks.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
