"""Benchmark: configuring a fleet, the fabric against plain Ansible and the fabric before the warm controller.

    python bench/bench_config_fleet.py [--sizes 1,3,12,24] [--no-write]

At each size N, on fresh real LXC containers each time (``ops.localpve.boxes``: unprivileged,
the local stack's ``debian12-base`` build, on a bridge of its own, 10.88.LANE.0/24, packages
through the local mirror on its gateway), a first run (root by key) and a converged run (the
admin user with sudo; it must report changed=0) of ``playbooks/site.yml`` for:

* **fabric**: N ConfigPolicy commands (``python3 -m fabric.runtime.apply_policy``, request on
  stdin) started at once, as ``pulumi up`` starts them when N containers become ready together;
  they share the apply's warm controller (:mod:`fabric.runtime.controller`);
* **plain Ansible**: one ``ansible-playbook -f N`` over the same containers, each container's
  variables as its inventory host variables, the same connection (Mitogen, pinned host keys);
* **before**: the same N commands from the fabric at ``BASELINE_REF`` (from Git, in a worktree):
  one ``ansible-playbook`` per command, at most one per CPU at once.

Wall time is from the start of the first command to the end of the last one. The run slots are
private to this benchmark (other checkouts' runs on the machine do not hold it up); the machine
itself may be shared, so the ratios, measured in the same run, are the figures to read. Never a
test: no timed assertion.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO)]

from bench.report import write_section  # noqa: E402
from fabric.paths import PLAYBOOKS_DIR, cache_root  # noqa: E402
from fabric.runtime.ansible_run import SshTarget, run_playbook  # noqa: E402
from fabric.runtime.ssh_hosts import pin_host_key, ssh_options  # noqa: E402
from ops.images.provenance import worktree_at  # noqa: E402
from ops.localpve.boxes import Box, Boxes, boxes_on_bridge  # noqa: E402
from ops.localpve.lane import lxc_tag, subnet  # noqa: E402
from ops.localpve.package_mirror import serve_package_mirror  # noqa: E402

NET = subnet(88).rstrip(".")
BASELINE_REF = "8188cf7"  # main before the warm controller
IMAGE = "1.2.0"  # Pulumi.local.yaml's
ADMIN = "samakia"
KEY_ENV = "BENCH_FLEET_SSH_KEY"
PROFILES = (["dns"], ["dns"], ["postgresql"])  # two resolvers per database, as in the local stack


@dataclass(frozen=True)
class Run:
    """One configuration step over N containers."""

    wall_s: float
    changed: int
    batches: int
    """How many ``ansible-playbook`` runs served it (the fabric's batches; 1 for plain; N before)."""


@dataclass
class Bench:
    boxes: Boxes
    key: Path
    mirror: str
    scratch: Path

    def policy_vars(self, box: Box, index: int) -> dict[str, object]:
        return {
            "fabric_hostname": box.name,
            "fabric_admin_user": ADMIN,
            "fabric_admin_ssh_keys": [self.key.with_suffix(".pub").read_text().strip()],
            "fabric_runtime_profiles": PROFILES[index % len(PROFILES)],
            "fabric_policy_version": "bench",
            "baseline_apt_mirror": f"{self.mirror}/debian",
            "baseline_apt_security_mirror": f"{self.mirror}/debian-security",
        }

    @contextlib.contextmanager
    def fleet(self, n: int, first_vmid: int) -> Iterator[list[Box]]:
        """N fresh containers, their apt pointed at the mirror; destroyed afterwards."""
        boxes = self.boxes.start_all([f"fleet-{i + 1:02d}" for i in range(n)], first_vmid)
        try:
            for box in boxes:
                line = f"deb {self.mirror}/debian bookworm main"
                self.boxes.attach(box, "sh", "-c", f"echo '{line}' > /etc/apt/sources.list")
            yield boxes
        finally:
            self.boxes.destroy(boxes)

    def env(self, label: str) -> dict[str, str]:
        return {
            **os.environ,
            KEY_ENV: str(self.key),
            "SAMAKIA_CACHE": str(self.scratch / "slots" / label),  # run slots of this variant only
            "SAMAKIA_STACK": f"bench-{label}",
        }

    def commands(self, code: Path, boxes: list[Box], label: str, known: Path) -> Run:
        """N ConfigPolicy commands of the fabric at ``code``, started at once."""
        project = self.scratch / "projects" / label
        project.mkdir(parents=True, exist_ok=True)
        env = {**self.env(label), "PYTHONPATH": str(code)}
        started = time.monotonic()
        procs = []
        for index, box in enumerate(boxes):
            request = box.policy_request("site.yml", self.policy_vars(box, index), KEY_ENV, str(known))
            proc = subprocess.Popen(
                [sys.executable, "-m", "fabric.runtime.apply_policy"],
                cwd=project,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            assert proc.stdin is not None
            proc.stdin.write(json.dumps(request))
            proc.stdin.close()
            proc.stdin = None
            procs.append(proc)
        outputs = [p.communicate(timeout=3600) for p in procs]
        wall = time.monotonic() - started
        changed, batches = 0, set()
        for proc, (out, err) in zip(procs, outputs, strict=True):
            if proc.returncode != 0:
                raise SystemExit(f"{label}: a command failed ({proc.returncode}):\n{out}\n{err[-3000:]}")
            changed += sum(int(w.split("=")[1]) for w in out.split() if w.startswith("changed="))
            said = [ln for ln in err.splitlines() if ln.startswith("controller: batch ")]
            batches.add(said[0].split()[2] if said else f"own-{proc.pid}")
        return Run(wall, changed, len(batches))

    def plain(self, boxes: list[Box], user: str, known: Path) -> Run:
        """One ``ansible-playbook -f N`` over the same containers and variables."""
        targets = []
        for box in boxes:
            pinned = pin_host_key(known, box.name, box.instance, box.address)
            targets.append(
                SshTarget(box.address, user=user, private_key=self.key, name=box.name,
                          ssh_common_args=" ".join(ssh_options(pinned.known_hosts)))
            )  # fmt: skip
        host_vars = {box.name: self.policy_vars(box, i) for i, box in enumerate(boxes)}
        started = time.monotonic()
        recap = run_playbook(
            targets, PLAYBOOKS_DIR / "site.yml", host_vars=host_vars, forks=len(boxes), env=self.env("plain")
        )
        wall = time.monotonic() - started
        if not recap.succeeded:
            raise SystemExit(f"plain ansible-playbook failed:\n{recap.summary()}\n{recap.stderr_tail}")
        return Run(wall, recap.changed, 1)

    def variant(self, label: str, n: int, vmid: int, baseline: Path) -> tuple[Run, Run]:
        """First and converged run of one variant on fresh containers."""
        known = self.scratch / "known" / f"{label}-{n}"
        with self.fleet(n, vmid) as boxes:
            if label == "plain":
                first, converged = self.plain(boxes, "root", known), self.plain(boxes, ADMIN, known)
            else:
                code = REPO if label == "fabric" else baseline
                first = self.commands(code, boxes, f"{label}-{n}-first", known)
                converged = self.commands(code, boxes, f"{label}-{n}-converged", known)
        if converged.changed:
            raise SystemExit(f"{label} at N={n}: the converged run changed {converged.changed} task(s)")
        return first, converged


VARIANTS = ("plain", "fabric", "before")


def measure(sizes: list[int]) -> str:
    results: dict[tuple[str, int], tuple[Run, Run]] = {}
    loads = []
    with tempfile.TemporaryDirectory(prefix="samakia-bench-fleet-") as tmp, contextlib.ExitStack() as stack:
        scratch = Path(tmp)
        key = scratch / "id_ed25519"
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bench", "-f", str(key)],
            check=True,
            stdin=subprocess.DEVNULL,
        )
        baseline = stack.enter_context(worktree_at(REPO, BASELINE_REF, scratch / "baseline"))
        public = key.with_suffix(".pub").read_text()
        boxes = stack.enter_context(boxes_on_bridge(scratch, NET, lxc_tag("f"), public, version=IMAGE))
        (mirror,) = stack.enter_context(serve_package_mirror([boxes.gateway], cache_root() / "apt-mirror"))
        bench = Bench(boxes, key, mirror, scratch)
        for n in sizes:
            for offset, label in enumerate(VARIANTS):
                loads.append(os.getloadavg()[0])
                results[label, n] = bench.variant(label, n, 8800 + 100 * offset, baseline)
                first, converged = results[label, n]
                print(f"N={n} {label}: first {first.wall_s:.1f} s, converged {converged.wall_s:.1f} s", flush=True)
    return report(sizes, results, loads)


def report(sizes: list[int], results: dict[tuple[str, int], tuple[Run, Run]], loads: list[float]) -> str:
    rows = []
    for n in sizes:
        plain, fabric, before = (results[v, n] for v in VARIANTS)
        for phase, i in (("first", 0), ("converged", 1)):
            p, f, b = plain[i], fabric[i], before[i]
            rows.append(
                f"| {n} | {phase} | {p.wall_s:.1f} | {f.wall_s:.1f} ({f.batches}) | {b.wall_s:.1f} | "
                f"**{f.wall_s / p.wall_s:.2f}** | {b.wall_s / p.wall_s:.2f} | {f.wall_s / b.wall_s:.2f} | "
                f"{f.wall_s / n:.1f} |"
            )
    shared = "shared with other work: read the ratios, measured in the same run, not the seconds"
    machine = shared if max(loads) > 2 else "a quiet machine"
    head = "| N | run | plain s | fabric s (runs) | before s | **fabric / plain** | before / plain | fabric / before |"
    return f"""Run: `python bench/bench_config_fleet.py` (part of `make bench`), {os.cpu_count()} CPUs; load
average {min(loads):.1f}-{max(loads):.1f} when the variants started ({machine}).
Fresh unprivileged LXC containers (1 core, 512 MiB each; two resolvers per database, the local
stack's `dns` and `postgresql` profiles) from the local `debian12-base` {IMAGE} build, configured
with `playbooks/site.yml` over SSH (Mitogen, host keys pinned), packages through the local mirror.
**fabric**: N ConfigPolicy commands (`python3 -m fabric.runtime.apply_policy`) started at once,
sharing the apply's warm controller (in brackets: how many `ansible-playbook` runs served them);
**plain**: one `ansible-playbook -f N`, each container's variables as its host variables;
**before**: the same N commands of the fabric at `{BASELINE_REF}` (one `ansible-playbook` each,
at most one per CPU at once). First run: root by key; converged: the admin user with sudo,
changed=0 checked. Wall seconds, first command started to last one finished.

{head} fabric s per container |
| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
{chr(10).join(rows)}
"""


def _stop(signum: int, _frame: object) -> None:
    raise SystemExit(f"stopped by signal {signum}")  # the teardown in measure() still runs


def main() -> int:
    signal.signal(signal.SIGTERM, _stop)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,3,12,24", help="fleet sizes, comma-separated")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    body = measure([int(s) for s in args.sizes.split(",")])
    print(body)
    if not args.no_write:
        write_section("Configuration at fleet scale", body)
        print("recorded in docs/benchmarks.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
