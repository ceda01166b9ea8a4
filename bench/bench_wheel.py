"""Benchmark: installing the wheel into a clean virtualenv, byte-compiled (pip's default) vs not.

    python bench/bench_wheel.py          # prints the table, updates docs/benchmarks.md

What the package tier's fixture does (``ops.dist.wheel``): build the wheel, then install it with
its pinned dependencies offline from the cached wheelhouse into a fresh virtualenv. The baseline
lets pip byte-compile every installed module (its default); the tier passes ``--no-compile``.
Both run in this process on the same wheel and wheelhouse, alternating, best of two each.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import write_section  # noqa: E402
from ops.dist.wheel import build_wheel, install_clean, wheelhouse  # noqa: E402

RUNS = 2


def timed_install(wheel: Path, scratch: Path, compile_bytecode: bool) -> tuple[float, int]:
    """Seconds to install into a new venv, and the number of files the venv then holds."""
    venv = Path(tempfile.mkdtemp(dir=scratch)) / "venv"
    started = time.perf_counter()
    install_clean(wheel, venv, compile_bytecode=compile_bytecode)
    seconds = time.perf_counter() - started
    return seconds, sum(1 for p in venv.rglob("*") if p.is_file())


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bench-wheel-") as tmp:
        scratch = Path(tmp)
        started = time.perf_counter()
        wheel = build_wheel(scratch / "dist")
        build_s = time.perf_counter() - started
        wheelhouse(wheel)  # downloaded once per pin set, outside the timings
        baseline, fast = [], []
        for _ in range(RUNS):
            baseline.append(timed_install(wheel, scratch, compile_bytecode=True))
            fast.append(timed_install(wheel, scratch, compile_bytecode=False))
    base_s, base_files = min(baseline)
    fast_s, fast_files = min(fast)
    body = f"""`bench/bench_wheel.py`: the package tier's clean install (`ops.dist.wheel.install_clean`), offline from
the cached wheelhouse; best of {RUNS} each, alternating, in one run.

| step | seconds | files in the venv |
| --- | ---: | ---: |
| build the wheel (hatchling, no isolation) | {build_s:.1f} | |
| install, byte-compiled (pip's default, baseline) | {base_s:.1f} | {base_files} |
| install, `--no-compile` (what the tier does) | {fast_s:.1f} | {fast_files} |

Ratio baseline / tier: **{base_s / fast_s:.2f}x**. Most of either is writing the `ansible` package's
21,000 files (the collections the roles use)."""
    print(body)
    write_section("Wheel install into a clean virtualenv", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
