"""Benchmark of the configuration policy on a real Debian root (debootstrap + chroot).

Prints, and records in the "## Playbooks" section of docs/benchmarks.md:

* first run: site.yml on a fresh copy of the pristine bookworm root (all five runtime profiles;
  .deb files come from the local apt-archive cache, the APT indexes from the mirror);
* converged run: the second run (changed=0), and its ratio to the first;
* drift check: ``ops.config.drift.check_drift`` (check mode) on the converged root (clean), and on a tampered
  copy (three drifted tasks).

Usage: ``python bench/bench_playbooks.py [--no-write]`` (as root: chroot needs it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO)]

from bench.report import DOC, write_section  # noqa: E402
from fabric.runtime.ansible_run import ChrootTarget, run_playbook  # noqa: E402
from ops.config import rootfs  # noqa: E402
from ops.config.drift import check_drift, exit_code  # noqa: E402

SECTION = "Playbooks"

VARS = {
    "fabric_hostname": "bench-1",
    "fabric_admin_user": "samakia",
    "fabric_admin_ssh_keys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBenchBenchBenchBenchBenchBenchBenchBenchBen bench"],
    "fabric_runtime_profiles": ["dns", "monitoring", "postgresql", "object_storage", "edge"],
    "fabric_policy_version": "bench",
}


def _tamper(root: Path) -> None:
    sshd = root / "etc/ssh/sshd_config"
    sshd.write_text(sshd.read_text().replace("\nPasswordAuthentication no\n", "\nPasswordAuthentication yes\n"))
    sysctl = root / "etc/sysctl.d/90-samakia-hardening.conf"
    sysctl.write_text(sysctl.read_text().replace("net.ipv4.ip_forward = 0", "net.ipv4.ip_forward = 1"))
    debs = sorted("/var/cache/apt/archives/" + p.name for p in (root / "var/cache/apt/archives").glob("*telnet_*.deb"))
    rootfs.chroot(root, "dpkg", "-i", *debs)


def measure() -> dict[str, float | int | str]:
    """Run the benchmark once and return the figures."""
    t0 = time.monotonic()
    base = rootfs.ensure_rootfs()
    rootfs_s = time.monotonic() - t0
    with tempfile.TemporaryDirectory(prefix="samakia-bench-") as tmp:
        root = rootfs.copy_root(base, Path(tmp) / "root")
        rootfs.prepare_copy(root)
        target = ChrootTarget(root=root)
        first = run_playbook(target, "playbooks/site.yml", VARS)
        if not first.succeeded:
            raise SystemExit(f"first run failed:\n{first.summary()}\n{first.stderr_tail}")
        rootfs.harvest_apt_archives(root)
        second = run_playbook(target, "playbooks/site.yml", VARS)
        if second.changed:
            raise SystemExit(f"converged run changed {second.changed} task(s): not idempotent")
        t1 = time.monotonic()
        results, _ = check_drift([([target], VARS)])
        drift_clean_s = time.monotonic() - t1
        if exit_code(results) != 0:
            raise SystemExit(f"drift check on the converged root is not clean: {results}")
        tampered = rootfs.copy_root(root, Path(tmp) / "tampered")
        _tamper(tampered)
        t2 = time.monotonic()
        results, _ = check_drift([([ChrootTarget(root=tampered)], VARS)])
        drift_tampered_s = time.monotonic() - t2
        drifted = len(results[0].changed_tasks)
        host = first.hosts[str(root)]
    return {
        "date": dt.date.today().isoformat(),
        "cpus": os.cpu_count() or 0,
        "load": f"{os.getloadavg()[0]:.1f}",
        "rootfs_s": round(rootfs_s, 1),
        "first_s": round(first.duration_s, 1),
        "first_changed": host.changed,
        "first_ok": host.ok,
        "converged_s": round(second.duration_s, 1),
        "ratio": round(second.duration_s / first.duration_s, 2),
        "drift_clean_s": round(drift_clean_s, 1),
        "drift_tampered_s": round(drift_tampered_s, 1),
        "drift_tasks": drifted,
    }


def render(f: dict[str, float | int | str]) -> str:
    """The markdown section for docs/benchmarks.md."""
    return f"""Measured by `python bench/bench_playbooks.py` on {f["date"]} ({f["cpus"]} CPUs shared with other
builds, load average {f["load"]} at the end). Target: a debootstrap bookworm minbase root, configured
through `community.general.chroot` with all five runtime profiles (dns, monitoring, postgresql,
object_storage, edge); .deb files from the local apt-archive cache, APT indexes from the mirror.

| figure | seconds |
| --- | ---: |
| pristine root ready (cache hit; a cold debootstrap build is about 60-90 s) | {f["rootfs_s"]} |
| first run (converge: ok={f["first_ok"]}, changed={f["first_changed"]}) | {f["first_s"]} |
| converged run (changed=0) | {f["converged_s"]} |
| converged / first | {f["ratio"]} |
| drift check, converged root (clean, exit 0) | {f["drift_clean_s"]} |
| drift check, tampered root ({f["drift_tasks"]} drifted tasks named, exit 1) | {f["drift_tampered_s"]} |

Each task costs roughly 0.2-0.5 s of controller and module start-up here, so the converged run and
the drift check (both visit every task) cost about the same; the first run adds package installs.
"""


def main() -> int:
    """Measure, print, record."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    figures = measure()
    text = render(figures)
    print(text)
    if not args.no_write:
        write_section(SECTION, text)
        print(f"recorded in {DOC.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
