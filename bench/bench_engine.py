"""Benchmark: the real engine against the local Proxmox, fabric program vs a raw baseline.

    python bench/bench_engine.py        # prints the table, updates docs/benchmarks.md

For 10 and 100 containers (infrastructure only: config policies would time Ansible, which the
playbook benchmark does), in a scratch project on its own state and fake:
preview on an empty stack for the fabric program and for a baseline program registering the
same provider resources without components or validation (the ratio), then the fabric's
``up`` and a no-change preview. Also times a warm ``scripts/engine.sh``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_program import synthetic_raw  # noqa: E402
from bench.report import write_section  # noqa: E402
from ops.localpve.services import ensure_local_images  # noqa: E402
from ops.stack.local import local_fabric  # noqa: E402

SIZES = (10, 100)
STACK = "bench"
BASELINE_MAIN = """
import sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).absolute().parent))
from bench.bench_program import baseline_program
from fabric.stack_file import read_stack_file
raw, _ = read_stack_file(Path(__file__).absolute().parent / "Pulumi.bench.yaml")
baseline_program(raw)
"""


def stack_file(n: int) -> dict[str, Any]:
    raw = synthetic_raw(n)
    for spec in raw["containers"].values():
        spec.pop("policy")
        spec["node"] = "pve1" if spec["vmid"] % 2 else "pve2"
        spec["image"] = "base"
    raw["images"] = {"base": "debian12-base@1.0.0"}
    raw["policies"] = {}
    raw["nodes"] = {"pve1": {}, "pve2": {}}
    raw["proxmox"] = {
        "endpoint": "https://127.0.0.4:8006/",
        "username": "root@pam",
        "password": {"env": "SAMAKIA_PVE_PASSWORD"},
    }
    raw["imageCatalog"] = "catalog.bench.yaml"
    raw["imageMirror"] = "http://127.0.0.1:8097"
    return {"config": {f"fabric:{k}": v for k, v in raw.items()}}


def project(tmp: Path, n: int, baseline: bool) -> Path:
    p = tmp / f"{'baseline' if baseline else 'fabric'}-{n}"
    p.mkdir()
    for name in ("fabric", "ops", "playbooks", "bench", "tests", "Pulumi.yaml", ".venv"):
        (p / name).symlink_to(ROOT / name)
    if baseline:
        (p / "__main__.py").write_text(BASELINE_MAIN)
    else:
        (p / "__main__.py").symlink_to(ROOT / "__main__.py")
    (p / f"Pulumi.{STACK}.yaml").write_text(yaml.safe_dump(stack_file(n), sort_keys=False))
    ensure_local_images(p, STACK, p / ".state" / "mirror")
    return p


def timed(ws: Any, *args: str) -> float:
    start = time.perf_counter()
    ws.pulumi(*args, capture=True)
    return time.perf_counter() - start


def measure(tmp: Path, n: int) -> dict[str, float]:
    out: dict[str, float] = {}
    base = project(tmp, n, baseline=True)
    with local_fabric(base, STACK, pve_host="127.0.0.4", mirror_port=8097) as (ws, _):
        out["baseline_preview"] = timed(ws, "preview")
    fab = project(tmp, n, baseline=False)
    with local_fabric(fab, STACK, pve_host="127.0.0.4", mirror_port=8097) as (ws, _):
        out["fabric_preview"] = timed(ws, "preview")
        out["fabric_up"] = timed(ws, "up", "--yes", "--skip-preview")
        out["fabric_noop_preview"] = timed(ws, "preview", "--expect-no-changes")
        out["fabric_destroy"] = timed(ws, "destroy", "--yes")
    return out


def main() -> None:
    start = time.perf_counter()
    subprocess.run(["bash", str(ROOT / "scripts" / "engine.sh")], check=True, capture_output=True)
    warm = time.perf_counter() - start
    rows = []
    with tempfile.TemporaryDirectory(prefix="samakia-bench-") as tmp:
        for n in SIZES:
            rows.append((n, measure(Path(tmp), n)))
    lines = [
        "| containers | baseline preview s | fabric preview s | ratio | fabric up s | no-op preview s | destroy s |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for n, m in rows:
        lines.append(
            f"| {n} | {m['baseline_preview']:.1f} | {m['fabric_preview']:.1f} | "
            f"{m['fabric_preview'] / m['baseline_preview']:.2f} | {m['fabric_up']:.1f} | "
            f"{m['fabric_noop_preview']:.1f} | {m['fabric_destroy']:.1f} |"
        )
    lines.append(f"\nWarm `scripts/engine.sh` (everything cached): {warm:.2f} s.")
    stamp = Path(os.environ.get("SAMAKIA_ENGINE_DIR", "")) / "stamp"
    if stamp.is_file():  # written by engine.sh when it last built this key
        lines.append(
            "Last build of this engine key as engine.sh recorded it (Go caches may have been warm; a cold "
            f"build from empty caches took 376-629 s here, see docs/engine.md): `{stamp.read_text().strip()}`."
        )
    table = "\n".join(lines)
    print(table)
    write_section(
        "Engine against the local Proxmox",
        table + "\n\nRun: `bench/bench_engine.py` (part of `make bench`). Real engine, stand-in providers "
        "(docs/engine.md), fakepve with time scale 0, infrastructure only (no config policies). The cold engine "
        "build is measured by scripts/engine.sh itself and recorded in docs/engine.md.",
    )


if __name__ == "__main__":
    main()
