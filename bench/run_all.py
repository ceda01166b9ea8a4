"""`make bench`: every benchmark in turn; each prints its figures and rewrites its section of docs/benchmarks.md."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = (
    "bench_program.py",
    "bench_validation.py",
    "bench_playbooks.py",
    "bench_images.py",
    "bench_engine.py",
    "bench_scale.py",
    "bench_lxc.py",
    "bench_config_ssh.py",
    "bench_wheel.py",
    "bench_config_fleet.py",
)


def main() -> int:
    failed = []
    for name in BENCHMARKS:
        print(f"\n=== {name}", flush=True)
        if subprocess.run([sys.executable, str(HERE / name)], check=False).returncode != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
