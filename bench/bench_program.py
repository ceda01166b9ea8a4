"""Benchmark: the fabric program under Pulumi mocks vs a baseline registering the same resources raw.

    python bench/bench_program.py            # prints the table, updates docs/benchmarks.md

Each measurement runs in its own process so peak memory is that run's alone. The baseline
registers the same provider resources (templates, containers, commands) with the same
arguments, but without the components, the validation and the digests.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SIZES = (10, 100, 1000)
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAK1l9Ha5hXCXm4J85GZKatqwZtUwXnt1hPD68PbO600 bench@samakia"


def synthetic_raw(n: int) -> dict[str, Any]:
    """A valid stack of n containers on 4 nodes, two image versions, two policies."""
    containers = {}
    for i in range(n):
        containers[f"ct-{i}"] = {
            "vmid": 1000 + i,
            "hostname": f"ct-{i}",
            "node": f"pve{i % 4 + 1}",
            "image": "base" if i % 2 else "next",
            "cpu": 2,
            "memoryMb": 2048,
            "swapMb": 512,
            "diskGb": 16,
            "nic": {"network": "lan", "address": f"10.{(i // 250) % 250}.{i % 250 + 2}.10"},
            "tags": ["bench", "tier" + str(i % 3)],
            "group": f"g{i % 10}",
            "policy": "dns" if i % 2 else "database",
            "sshKeys": [KEY],
        }
    return {
        "protected": False,
        "proxmox": {"endpoint": "https://pve.bench:8006/", "username": "root@pam", "password": {"env": "BENCH_PW"}},
        "imageCatalog": "tests/unit/stacks/catalog.yaml",
        "imageMirror": "https://images.bench/lxc",
        "nodes": {f"pve{k}": {} for k in range(1, 5)},
        "networks": {"lan": {"cidr": "10.0.0.0/8", "gateway": "10.255.255.254"}},
        "images": {"base": "debian12-base@1.0.0", "next": "debian12-base@1.1.0"},
        "policies": {"dns": {"profiles": ["dns"]}, "database": {"profiles": ["postgresql"]}},
        "containers": containers,
    }


def fabric_program(raw: dict[str, Any]) -> None:
    import pulumi

    from fabric import Fleet, proxmox_provider, validate

    fabric = validate(raw, project_dir=ROOT)
    provider = proxmox_provider("proxmox", fabric.intent.proxmox)
    Fleet("fabric", fabric, pulumi.ResourceOptions(providers=[provider]))


def baseline_program(raw: dict[str, Any]) -> None:
    """The same provider resources, registered flat, from pre-digested plain dicts."""
    import pulumi
    import pulumi_proxmoxve as proxmoxve
    from pulumi_command import local
    from pulumi_proxmoxve import download

    from fabric.config_policy import RUNNER

    provider = proxmoxve.Provider(
        "proxmox", endpoint="https://pve.bench:8006/", username="root@pam", password=pulumi.Output.secret("pw")
    )
    opts = pulumi.ResourceOptions(provider=provider)
    files: dict[tuple[str, str], Any] = {}
    versions = {"base": ("1.0.0", "1" * 64), "next": ("1.1.0", "2" * 64)}
    for name, c in raw["containers"].items():
        version, sha = versions[c["image"]]
        key = (version, c["node"])
        if key not in files:
            files[key] = download.File(
                f"debian12-base-{version}-{c['node']}",
                node_name=c["node"],
                datastore_id="local",
                content_type="vztmpl",
                url=f"https://images.bench/lxc/debian12-base/debian12-base_{version}_amd64.tar.zst",
                file_name=f"debian12-base_{version}_amd64.tar.zst",
                checksum=sha,
                checksum_algorithm="sha256",
                overwrite=False,
                overwrite_unmanaged=True,
                opts=opts,
            )
        ct = proxmoxve.ContainerLegacy(
            name,
            node_name=c["node"],
            vm_id=c["vmid"],
            tags=sorted(c["tags"]),
            unprivileged=True,
            start_on_boot=True,
            started=True,
            protection=False,
            cpu=proxmoxve.ContainerLegacyCpuArgs(cores=c["cpu"]),
            memory=proxmoxve.ContainerLegacyMemoryArgs(dedicated=c["memoryMb"], swap=c["swapMb"]),
            disk=proxmoxve.ContainerLegacyDiskArgs(datastore_id="local-lvm", size=c["diskGb"]),
            features=proxmoxve.ContainerLegacyFeaturesArgs(nesting=False, keyctl=False, fuse=False),
            operating_system=proxmoxve.ContainerLegacyOperatingSystemArgs(
                template_file_id=files[key].id, type="debian"
            ),
            network_interfaces=[proxmoxve.ContainerLegacyNetworkInterfaceArgs(name="eth0", bridge="vmbr0")],
            initialization=proxmoxve.ContainerLegacyInitializationArgs(
                hostname=c["hostname"],
                ip_configs=[
                    proxmoxve.ContainerLegacyInitializationIpConfigArgs(
                        ipv4=proxmoxve.ContainerLegacyInitializationIpConfigIpv4Args(
                            address=c["nic"]["address"] + "/8", gateway="10.255.255.254"
                        )
                    )
                ],
                user_account=proxmoxve.ContainerLegacyInitializationUserAccountArgs(keys=c["sshKeys"]),
            ),
            opts=pulumi.ResourceOptions(
                provider=provider, replacement_trigger=f"{version}#{sha}", delete_before_replace=True
            ),
        )
        if c.get("policy"):  # a config policy only where the stack declares one, as the fabric does
            local.Command(
                f"{name}-config",
                create=RUNNER,
                stdin=json.dumps({"host": c["hostname"]}),
                triggers=[ct.id, version, sha],
                logging=local.Logging.STDOUT,
                opts=pulumi.ResourceOptions(depends_on=[ct], replace_with=[ct]),
            )


def child(kind: str, n: int) -> None:
    import os

    os.environ["BENCH_PW"] = "bench-password"
    os.chdir(ROOT)
    from fabric.testing import run_program

    raw = synthetic_raw(n)
    program = fabric_program if kind == "fabric" else baseline_program
    start = time.perf_counter()
    rec = run_program(lambda: program(raw))
    wall = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"wall": wall, "peak_kb": peak_kb, "resources": len(rec.registered)}))


def measure(kind: str, n: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, str(n)], capture_output=True, text=True, check=True
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def import_time() -> float:
    best = min(
        float(
            subprocess.run(
                [
                    sys.executable,
                    "-c",
                    "import time; t=time.perf_counter(); import fabric; print(time.perf_counter()-t)",
                ],
                capture_output=True,
                text=True,
                check=True,
                cwd=ROOT,
            ).stdout
        )
        for _ in range(3)
    )
    return best


def main() -> None:
    rows = []
    for n in SIZES:
        base, fab = measure("baseline", n), measure("fabric", n)
        rows.append((n, base, fab))
    imp = import_time()
    lines = [
        "| containers | baseline wall s | fabric wall s | ratio | fabric ms/container "
        "| baseline peak MiB | fabric peak MiB | resources baseline / fabric |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for n, base, fab in rows:
        lines.append(
            f"| {n} | {base['wall']:.2f} | {fab['wall']:.2f} | {fab['wall'] / base['wall']:.2f} | "
            f"{1000 * fab['wall'] / n:.1f} | {base['peak_kb'] / 1024:.0f} | {fab['peak_kb'] / 1024:.0f} | "
            f"{base['resources']:.0f} / {fab['resources']:.0f} |"
        )
    lines.append(f"\n`import fabric`: {imp:.3f} s (best of 3, fresh interpreter).")
    table = "\n".join(lines)
    print(table)
    from bench.report import write_section

    note = (
        "Run: `make bench` (bench/bench_program.py), mocks on this 2-core machine. The goal was a ratio of "
        "at most 1.15 at 1000 containers; it is not met. The gap is the component resources themselves: the "
        "fabric registers one `LxcContainer` and one `ConfigPolicy` component per container (with their "
        "outputs), twice the baseline's registrations, and each registration costs the mocked engine about "
        "the same. Validating 1000 containers takes about 0.07 s and the playbook digests are computed once "
        "per policy, so nearly all of the difference is registrations."
    )
    write_section("Program under mocks", table + "\n\n" + note)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], int(sys.argv[3]))
    else:
        main()
