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
            "group": f"g{i // 2}",  # replica pairs, on distinct nodes
            "policy": "dns" if i % 2 else "database",
            "sshKeys": [KEY],
        }
    return {
        "protected": False,
        "proxmox": {
            "endpoint": "https://pve.bench:8006/",
            "username": "root@pam",
            "password": {"env": "PROXMOX_VE_PASSWORD"},
        },
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


def baseline_program(raw: dict[str, Any], project_dir: Path = ROOT) -> None:
    """The same provider resources, registered flat from the raw stack: no components, no validation.

    It reads what the fabric reads (the containers, inline or in intent files; the catalog's
    file names and digests; the endpoint, mirror and network) so that under the real engine it
    can also apply, against the same local Proxmox.
    """

    import pulumi
    import pulumi_proxmoxve as proxmoxve
    import yaml
    from pulumi_command import local
    from pulumi_proxmoxve import download

    from fabric.config_policy import RUNNER
    from fabric.intent_files import expand

    raw = expand(raw, project_dir)  # reading the files, as the fabric does; no models, no cross-checks
    catalog = yaml.safe_load((project_dir / raw["imageCatalog"]).read_text())["families"]["debian12-base"]
    builds = {b["version"]: b for b in catalog}
    images = {alias: builds[ref.split("@")[1]] for alias, ref in raw["images"].items()}
    (net,) = raw["networks"].values()
    prefix = net["cidr"].split("/")[1]
    login = raw["proxmox"]
    provider = proxmoxve.Provider(
        "proxmox",
        endpoint=login["endpoint"],
        username=login["username"],
    )
    opts = pulumi.ResourceOptions(provider=provider)
    files: dict[tuple[str, str], Any] = {}
    for name, c in raw["containers"].items():
        build = images[c["image"]]
        key = (build["version"], c["node"])
        if key not in files:
            files[key] = download.File(
                f"debian12-base-{build['version']}-{c['node']}",
                node_name=c["node"],
                datastore_id="local",
                content_type="vztmpl",
                url=f"{raw['imageMirror']}/debian12-base/{build['file_name']}",
                file_name=build["file_name"],
                checksum=build["sha256"],
                checksum_algorithm="sha256",
                overwrite=False,
                overwrite_unmanaged=True,
                opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(retain_on_delete=True)),
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
                            address=f"{c['nic']['address']}/{prefix}", gateway=net["gateway"]
                        )
                    )
                ],
                user_account=proxmoxve.ContainerLegacyInitializationUserAccountArgs(keys=c["sshKeys"]),
            ),
            opts=pulumi.ResourceOptions(
                provider=provider,
                replacement_trigger=f"debian12-base@{build['version']}#sha256:{build['sha256']}",
                delete_before_replace=True,
            ),
        )
        if c.get("policy"):  # a config policy only where the stack declares one, as the fabric does
            local.Command(
                f"{name}-config",
                create=RUNNER,
                stdin=json.dumps({"host": c["hostname"]}),
                triggers=[ct.id, build["version"], build["sha256"]],
                logging=local.Logging.STDOUT,
                opts=pulumi.ResourceOptions(depends_on=[ct], replace_with=[ct]),
            )


def components_program(raw: dict[str, Any]) -> None:
    """Only what the components add to the baseline: per container one empty component with the
    outputs ``LxcContainer`` registers, and one with ``ConfigPolicy``'s, no provider resources."""
    import pulumi

    for name in raw["containers"]:
        for kind, outputs in (("LxcContainer", 5), ("ConfigPolicy", 2)):
            component = pulumi.ComponentResource(f"samakia:fabric:{kind}", f"{name}-{kind}", None)
            component.register_outputs({f"o{i}": pulumi.Output.from_input(name) for i in range(outputs)})


def child(kind: str, n: int) -> None:
    import os

    os.environ["PROXMOX_VE_PASSWORD"] = "bench-password"  # noqa: S105 (a throwaway value for mocks)
    os.chdir(ROOT)
    from fabric.testing import run_program

    raw = synthetic_raw(n)
    program = {"fabric": fabric_program, "baseline": baseline_program, "components": components_program}[kind]
    start, cpu = time.perf_counter(), time.process_time()
    rec = run_program(lambda: program(raw))
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"wall": wall, "cpu": cpu, "peak_kb": peak_kb, "resources": len(rec.registered)}))


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
    n_big = SIZES[-1]
    comp = measure("components", n_big)
    imp = import_time()
    lines = [
        "| containers | baseline wall s | fabric wall s | ratio | baseline CPU s | fabric CPU s | CPU ratio "
        "| fabric ms/container | baseline peak MiB | fabric peak MiB | resources baseline / fabric |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for n, base, fab in rows:
        lines.append(
            f"| {n} | {base['wall']:.2f} | {fab['wall']:.2f} | {fab['wall'] / base['wall']:.2f} | "
            f"{base['cpu']:.2f} | {fab['cpu']:.2f} | {fab['cpu'] / base['cpu']:.2f} | "
            f"{1000 * fab['wall'] / n:.1f} | {base['peak_kb'] / 1024:.0f} | {fab['peak_kb'] / 1024:.0f} | "
            f"{base['resources']:.0f} / {fab['resources']:.0f} |"
        )
    _, base_big, fab_big = rows[-1]
    per_component = 1000 * comp["cpu"] / comp["resources"]
    gap = 1000 * (fab_big["cpu"] - base_big["cpu"]) / (fab_big["resources"] - base_big["resources"])
    lines += [
        "",
        f"**What a component costs under mocks:** {n_big} x 2 bare components carrying the outputs "
        f"`LxcContainer` and `ConfigPolicy` register ({comp['resources']:.0f} registrations, no provider "
        f"resources): {comp['cpu']:.2f} s CPU, **{per_component:.1f} ms per component**. The fabric's extra CPU "
        f"over the baseline at {n_big} containers, spread over its extra registrations: {gap:.1f} ms each.",
        f"\n`import fabric`: {imp:.3f} s (best of 3, fresh interpreter).",
    ]
    table = "\n".join(lines)
    print(table)
    from bench.report import write_section

    write_section("Program under mocks", table + "\n\n" + NOTE)


NOTE = (
    "Run: `make bench` (bench/bench_program.py), mocks on this 2-core machine shared with other jobs, so "
    "wall times vary; CPU seconds (the process's own) are steadier. The fabric registers one `LxcContainer` "
    "and one `ConfigPolicy` component per container (with their outputs), twice the baseline's "
    "registrations; under mocks each registration costs about the same, so the ratio stays near 2 minus "
    "the shared fixed costs. Validating 1000 containers and the args checks take well under a second, and "
    "the playbook digests are computed once per policy. A cheaper shape that keeps the typed surface "
    "exists: the same `LxcContainerArgs`/`validate()` and the same output attributes on a plain Python "
    "class that registers the provider resources directly, without a `ComponentResource` around them. It "
    "saves one registration per container and policy, at the price of the grouping in the resource tree "
    "(`pulumi stack` shows flat resources), of the component-level outputs in state, and of a one-time "
    "URN change for existing stacks (aliases). Under the real engine the components' share is measured in "
    "the next section."
)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], int(sys.argv[3]))
    else:
        main()
