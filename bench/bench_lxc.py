"""Benchmark: the local Proxmox's real LXC containers, from create to teardown.

    python bench/bench_lxc.py [--no-write]     # prints the table, updates docs/benchmarks.md

On the debian12-base template the local stack uses, on its own bridge (10.76.0.0/24) and LXC
path: the first unpack of the template (once per template and id map), then for three
unprivileged containers in turn: create (overlay layer, keys), start (``lxc-start`` until
RUNNING), sshd answering, a clean shutdown, destroy; then the instance's teardown. The baseline,
measured in the same run, is what a directory root filesystem costs per container (unpack the
template into a directory, delete it), which the overlay layout avoids.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import write_section  # noqa: E402
from fabric.runtime.ssh_hosts import wait_for_sshd  # noqa: E402
from ops.localpve.lxc import LxcNode  # noqa: E402
from ops.localpve.services import local_build  # noqa: E402

N = 3


def template(scratch: Path) -> Path:
    """The local debian12-base 1.0.0 build of this checkout's image code (built once, then cached)."""
    return local_build("debian12-base", "1.0.0", scratch / "catalog.yaml")


def timed(fn, *args, **kwargs) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - start


def directory_rootfs(artifact: Path, scratch: Path) -> tuple[float, float]:
    """(unpack, delete) seconds of a plain directory root filesystem: the baseline."""
    target = scratch / "dir-rootfs"
    target.mkdir()
    start = time.perf_counter()
    with subprocess.Popen(["zstd", "-qdc", str(artifact)], stdout=subprocess.PIPE) as zstd:
        subprocess.run(["tar", "--numeric-owner", "-xpf", "-", "-C", str(target)], stdin=zstd.stdout, check=True)
    unpack = time.perf_counter() - start
    subprocess.run(["sync"], check=True)
    return unpack, timed(shutil.rmtree, target)


def measure() -> dict[str, float]:
    out: dict[str, list[float]] = {k: [] for k in ("create", "start", "sshd", "shutdown", "destroy")}
    with tempfile.TemporaryDirectory(prefix="samakia-bench-lxc-") as tmp:
        scratch = Path(tmp)
        artifact = template(scratch)
        base_unpack, base_delete = directory_rootfs(artifact, scratch)
        node = LxcNode(scratch / "state")
        node.claim(ephemeral=True)
        key = scratch / "id_ed25519"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        try:
            bridges = {"vmbr0": node.ensure_bridge("vmbr0", "10.76.0.1", "10.76.0.0/24")}
            # Unpacked once per machine, template and id map (LXC_BASE/templates), then shared: an
            # earlier run or test leaves it unpacked, and then this is the lookup, not the unpack.
            was_unpacked = node.unpacked_root(artifact, True).is_dir()
            first_unpack = timed(node.template_root, artifact, True)
            for i in range(N):
                vmid, address = 900 + i, f"10.76.0.{10 + i}"
                config = {
                    "hostname": f"bench-{i}",
                    "memory": 256,
                    "swap": 0,
                    "cores": 1,
                    "net0": f"name=eth0,bridge=vmbr0,ip={address}/24,gw=10.76.0.1",
                }
                keys = key.with_suffix(".pub").read_text()
                out["create"].append(
                    timed(node.create, vmid, artifact, unprivileged=True, ssh_keys=keys, config=config, bridges=bridges)
                )
                out["start"].append(timed(node.start, vmid, config, bridges))
                out["sshd"].append(out["start"][-1] + wait_for_sshd(address, timeout=60))
                out["shutdown"].append(timed(node.stop, vmid, clean_timeout=30))
                out["destroy"].append(timed(node.destroy, vmid))
        finally:
            teardown = timed(node.teardown)
            node.release()
    figures = {k: statistics.median(v) for k, v in out.items()}
    figures |= {"first_unpack": first_unpack, "teardown": teardown, "was_unpacked": float(was_unpacked)}
    figures |= {"baseline_unpack": base_unpack, "baseline_delete": base_delete}
    return figures


def report(f: dict[str, float]) -> str:
    ours = f["create"] + f["destroy"]
    baseline = f["baseline_unpack"] + f["baseline_delete"]
    rows = [
        (
            "template root for the first container: "
            + ("already unpacked by an earlier run (a lookup)" if f["was_unpacked"] else "unpacked (then shared)"),
            f["first_unpack"],
        ),
        ("create (overlay layer, authorized_keys, host keys)", f["create"]),
        ("start (`lxc-start` until RUNNING)", f["start"]),
        ("sshd answering, from `lxc-start`", f["sshd"]),
        ("clean shutdown (`lxc-stop`, systemd halts)", f["shutdown"]),
        ("destroy (`lxc-destroy`, the container's own layer)", f["destroy"]),
        ("teardown of the instance (bridge, LXC path)", f["teardown"]),
        ("baseline: unpack the template into a directory root", f["baseline_unpack"]),
        ("baseline: delete that directory root", f["baseline_delete"]),
    ]
    table = "| step (median of 3 unprivileged containers) | seconds |\n| --- | --- |\n"
    table += "".join(f"| {name} | {value:.2f} |\n" for name, value in rows)
    return (
        "`python bench/bench_lxc.py`: the local Proxmox's real LXC containers (debian12-base 1.0.0,\n"
        "unprivileged, 256 MiB, on their own bridge).\n\n"
        + table
        + f"\nCreate + destroy per container: {ours:.2f} s with the overlay layout, {baseline:.2f} s for a\n"
        f"directory root filesystem measured in the same run (ratio {ours / baseline:.3f}).\n"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    body = report(measure())
    print(body)
    if not args.no_write:
        write_section("Real LXC containers (local Proxmox)", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
