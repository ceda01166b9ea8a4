"""Benchmark of the configuration policy on a real Debian root (debootstrap + chroot), before and after.

For each container shape (the local stack's DNS and database policies, and one container with
all five runtime profiles), on fresh copies of the same pristine bookworm root:

* the **baseline** policy: ``playbooks/`` as it was at ``BASELINE_REF`` (before the speed work:
  a task per file, an apt transaction per role, the setup module), checked out of Git;
* the **current** policy: ``playbooks/`` in this checkout;

each run twice: the first run (converge) and the converged run (must report changed=0). Both
trees run in the same process, on the same machine state, with the same .deb cache, so the
ratio compares like with like. Then the configuration drift check (check mode) on the converged
all-profiles root, clean and tampered, and the slowest tasks of the current converged run.

Prints, and records in the "Playbooks" section of docs/benchmarks.md.
Usage: ``python bench/bench_playbooks.py [--no-write] [--quick]`` (as root: chroot needs it).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO)]

from bench.report import write_section  # noqa: E402
from fabric.runtime.ansible_run import ChrootTarget, Recap, run_playbook  # noqa: E402
from ops.config import rootfs  # noqa: E402
from ops.config.drift import check_drift, exit_code  # noqa: E402

# The last commit whose playbooks predate the speed work (one task per file, setup module).
BASELINE_REF = "0ee20da"
ALL_PROFILES = ["dns", "monitoring", "postgresql", "object_storage", "edge"]
# Container shapes: the local stack's two policies, and the worst case (every profile).
SHAPES = {"dns": ["dns"], "database": ["postgresql"], "all five profiles": ALL_PROFILES}

VARS = {
    "fabric_hostname": "bench-1",
    "fabric_admin_user": "samakia",
    "fabric_admin_ssh_keys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBenchBenchBenchBenchBenchBenchBenchBenchBen bench"],
    "fabric_runtime_profiles": ALL_PROFILES,
    "fabric_policy_version": "bench",
}


@dataclass(frozen=True)
class Pair:
    """The first and the converged run of one tree on one shape."""

    first: Recap
    converged: Recap


def _tamper(root: Path) -> None:
    sshd = root / "etc/ssh/sshd_config"
    sshd.write_text(sshd.read_text().replace("\nPasswordAuthentication no\n", "\nPasswordAuthentication yes\n"))
    sysctl = root / "etc/sysctl.d/90-samakia-hardening.conf"
    sysctl.write_text(sysctl.read_text().replace("net.ipv4.ip_forward = 0", "net.ipv4.ip_forward = 1"))
    debs = sorted("/var/cache/apt/archives/" + p.name for p in (root / "var/cache/apt/archives").glob("*telnet_*.deb"))
    rootfs.chroot(root, "dpkg", "-i", *debs)


def baseline_tree(dest: Path) -> Path:
    """``playbooks/`` at BASELINE_REF, unpacked under ``dest``; returns its site.yml."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", BASELINE_REF, "playbooks"], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest / "playbooks" / "site.yml"


def converge(base: Path, workdir: Path, playbook: Path, variables: dict[str, object]) -> tuple[Pair, Path]:
    """First and converged run on a fresh copy of ``base``; the converged root is kept for drift."""
    root = rootfs.copy_root(base, workdir / "root")
    rootfs.prepare_copy(root)
    target = ChrootTarget(root=root)
    first = run_playbook(target, playbook, variables, timeout=1800)
    if not first.succeeded:
        raise SystemExit(f"{playbook}: first run failed:\n{first.summary()}\n{first.stderr_tail}")
    rootfs.harvest_apt_archives(root)
    converged = run_playbook(target, playbook, variables, timeout=900)
    if not converged.succeeded or converged.changed:
        changed = [t.describe() for t in converged.changed_tasks]
        raise SystemExit(f"{playbook}: converged run not clean: {converged.summary()} {changed}")
    return Pair(first, converged), root


def _host(recap: Recap) -> str:
    (name,) = recap.hosts
    return name


def measure(quick: bool) -> str:
    """Run everything; return the markdown body."""
    current_site = REPO / "playbooks" / "site.yml"
    shapes = {"all five profiles": ALL_PROFILES} if quick else SHAPES
    rows: list[str] = []
    drift_lines: list[str] = []
    slow: list[tuple[str, float]] = []
    t0 = time.monotonic()
    base = rootfs.ensure_rootfs()
    rootfs_s = time.monotonic() - t0
    with tempfile.TemporaryDirectory(prefix="samakia-bench-") as tmp:
        old_site = baseline_tree(Path(tmp))
        for shape, profiles in shapes.items():
            variables: dict[str, object] = dict(VARS, fabric_runtime_profiles=profiles)
            before, _ = converge(base, Path(tmp) / f"old-{len(rows)}", old_site, variables)
            after, root = converge(base, Path(tmp) / f"new-{len(rows)}", current_site, variables)
            for label, pair in (("baseline", before), ("current", after)):
                host = pair.first.hosts[_host(pair.first)]
                conv = pair.converged.hosts[_host(pair.converged)]
                rows.append(
                    f"| {shape} | {label} | {pair.first.duration_s:.1f} | {host.changed} | "
                    f"{pair.converged.duration_s:.1f} | {conv.ok} | {len(pair.converged.task_seconds)} |"
                )
            rows.append(
                f"| {shape} | **current / baseline** | **{after.first.duration_s / before.first.duration_s:.2f}** | | "
                f"**{after.converged.duration_s / before.converged.duration_s:.2f}** | | |"
            )
            if profiles == ALL_PROFILES:
                slow = after.converged.slowest_tasks(8)
                t1 = time.monotonic()
                results, _ = check_drift([([ChrootTarget(root=root)], variables)])
                clean_s = time.monotonic() - t1
                if exit_code(results) != 0:
                    raise SystemExit(f"drift check on the converged root is not clean: {results}")
                tampered = rootfs.copy_root(root, Path(tmp) / "tampered")
                _tamper(tampered)
                t2 = time.monotonic()
                results, _ = check_drift([([ChrootTarget(root=tampered)], variables)])
                tampered_s = time.monotonic() - t2
                drift_lines = [
                    f"| drift check, converged root (clean, exit 0) | {clean_s:.1f} |",
                    f"| drift check, tampered root ({len(results[0].changed_tasks)} drifted tasks named, exit 1) "
                    f"| {tampered_s:.1f} |",
                ]
    slowest = "\n".join(f"| {name} | {seconds:.2f} |" for name, seconds in slow)
    return f"""Run: `python bench/bench_playbooks.py` (part of `make bench`), {os.cpu_count()} CPUs shared with
other work (load average {os.getloadavg()[0]:.1f} at the end). Target: fresh copies of one debootstrap
bookworm minbase root (ready in {rootfs_s:.1f} s from the cache), configured through
`community.general.chroot`; .deb files from the local apt-archive cache, indexes from the mirror.
**Baseline** = `playbooks/` at `{BASELINE_REF}` (before the speed work), **current** = this checkout,
both measured in this same run. "tasks" counts the tasks the converged run visited.

| container | policy | first run s | first changed | converged s | converged ok | tasks |
| --- | --- | ---: | ---: | ---: | ---: | ---: |
{chr(10).join(rows)}

| figure (current, all five profiles) | seconds |
| --- | ---: |
{chr(10).join(drift_lines)}

Slowest tasks of the current converged run (all five profiles):

| task | seconds |
| --- | ---: |
{slowest}

Where the time went and what removed it (docs/playbooks.md, "Speed"): the setup module and
two stats became one `samakia.fabric.target_facts` call; every role's packages install in one
apt transaction, and package tasks are skipped on the controller when dpkg already has them;
files, directories and modes of a role go in one `samakia.fabric.files` call (a `template` task
costs two module runs even when nothing changes); units are enabled with one `systemctl` call.
"""


def main() -> int:
    """Measure, print, record."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    parser.add_argument("--quick", action="store_true", help="only the all-profiles container")
    args = parser.parse_args()
    body = measure(args.quick)
    print(body)
    if not args.no_write:
        write_section("Playbooks", body)
        print("recorded in docs/benchmarks.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
