"""Benchmark: validating a 5000-container stack file, pure-Python YAML loader vs the C loader.

    python bench/bench_validation.py          # prints the table, updates docs/benchmarks.md

What ``python -m ops.stack.validate`` does for one stack file: read it, then validate it. The
baseline reads with ``yaml.SafeLoader`` (PyYAML's pure-Python parser, what the project used
before); the fabric reads with ``fabric.yaml_input.StrictLoader`` (libyaml's parser plus the
duplicate-key check). Both run in this process on the same file; best of three each.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_program import synthetic_raw  # noqa: E402
from bench.report import write_section  # noqa: E402
from fabric import yaml_input  # noqa: E402
from fabric.stack_file import read_stack_file  # noqa: E402
from fabric.validation import validate  # noqa: E402

CONTAINERS = 5000
RUNS = 3


def best(fn: Callable[[], Any]) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def pure_python(text: str, source: str) -> Any:
    """The baseline: PyYAML's pure-Python safe loader, no duplicate-key check."""
    return yaml.load(text, Loader=yaml.SafeLoader)


def main() -> int:
    raw = synthetic_raw(CONTAINERS)
    # The program benchmark's fleet puts 500 members in each replica group on 4 nodes, which the
    # validation rightly refuses (members on distinct nodes): here the containers stand alone.
    for spec in raw["containers"].values():
        spec.pop("group", None)
    body = {"config": {f"fabric:{k}": v for k, v in raw.items()}}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "Pulumi.bench.yaml"
        path.write_text(yaml.dump(body, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), sort_keys=False))
        size_kib = path.stat().st_size / 1024
        text = path.read_text()

        def whole() -> None:
            got, secret = read_stack_file(path)
            validate(got, project_dir=ROOT, secret_keys=secret)

        parse_c = best(lambda: yaml_input.parse_yaml(text, str(path)))
        parse_py = best(lambda: pure_python(text, str(path)))
        validate_only = best(lambda: validate(raw, project_dir=ROOT))
        whole_c = best(whole)
        # The baseline: the same read and validation with the old parser swapped in where the
        # stack file reader parses (``read_yaml`` looks ``parse_yaml`` up at call time).
        original = yaml_input.parse_yaml
        yaml_input.parse_yaml = pure_python
        try:
            whole_py = best(whole)
        finally:
            yaml_input.parse_yaml = original
    rows = [
        ("parse the stack file", parse_py, parse_c),
        ("read + validate (what ops.stack.validate does)", whole_py, whole_c),
    ]
    table = [
        "| step | pure-Python loader (before) | C loader + duplicate-key check | ratio |",
        "| --- | --- | --- | --- |",
        *(f"| {name} | {py:.2f} s | {c:.2f} s | {py / c:.1f}x |" for name, py, c in rows),
        f"| validation alone (models, cross-checks, repository checks) | {validate_only:.2f} s | "
        f"{validate_only:.2f} s | 1.0x |",
    ]
    body_md = "\n".join(
        [
            f"Run: `bench/bench_validation.py` (part of `make bench`). One stack file of {CONTAINERS} containers "
            f"({size_kib:.0f} KiB), best of {RUNS}, same process, same file. C loader in use: {yaml_input.C_LOADER}.",
            "",
            *table,
        ]
    )
    print(body_md)
    write_section("Stack validation: YAML loader", body_md)
    fuzz_md = fuzz_figures()
    print(fuzz_md)
    write_section("Stack-file fuzzing", fuzz_md)
    return 0


def fuzz_figures() -> str:
    """Run the stack-file fuzz test once (as ``make test`` does) and report Hypothesis's own figures."""
    start = time.perf_counter()
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--hypothesis-show-statistics",
            "tests/unit/test_fuzz_stack_files.py",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - start
    out = run.stdout
    counts = re.search(r"(\d+) passing, (\d+) failing, and (\d+) invalid", out)
    runtimes = re.search(r"Typical runtimes: ~ ([^\n]+)", out)
    generate = re.search(r"generate phase \(([\d.]+) seconds\)", out)
    verdict = "passed" if run.returncode == 0 else f"FAILED (exit {run.returncode})"
    return "\n".join(
        [
            "Run: `bench/bench_validation.py` runs `tests/unit/test_fuzz_stack_files.py` once, as `make test` does.",
            "Each example is a whole malformed stack file through `python -m ops.stack.validate`, in process.",
            "",
            "| figure | value |",
            "| --- | --- |",
            f"| verdict | {verdict} |",
            f"| examples passing / failing / discarded | {' / '.join(counts.groups()) if counts else '?'} |",
            f"| generate phase | {generate.group(1) if generate else '?'} s |",
            f"| typical time per example | {runtimes.group(1) if runtimes else '?'} |",
            f"| wall time, pytest included | {wall:.1f} s |",
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
