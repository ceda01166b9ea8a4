"""Benchmark: the ceiling of one stack. ``pulumi up``, a no-change preview and ``destroy`` at 100, 500
and 1000 containers, on the file backend and on an S3 bucket (SeaweedFS on loopback), fabric
against raw in the same run.

    python bench/bench_scale.py                          # 100 500 1000, both backends
    python bench/bench_scale.py --sizes 100 --backends s3 --no-write
    python bench/bench_scale.py --render                 # the table again from the results file

Each (size, backend, program) runs in a scratch project on its own local Proxmox (time scale 0,
containers as API records: ``local_services(containers=False)``), with the containers in intent
files; the raw program registers the same provider resources flat (``bench/bench_engine.py``,
whose project and step runner this reuses). For S3, every project keeps its state under its own
key prefix of one bucket (``PULUMI_BACKEND_URL=s3://fabric-state/<prefix>?endpoint=...``).

Every measure is appended to a results file as it is taken (``--results``, default
``$SAMAKIA_CACHE/bench-scale.json``), so a long run that is stopped keeps what it measured, and the
machine's load average is recorded at each step. The growth exponent between two sizes is
``log(cost2 / cost1) / log(n2 / n1)``: 1 is linear, 2 quadratic.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import math
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import bench_engine  # noqa: E402
from bench.bench_engine import STEPS, project, run_steps  # noqa: E402
from bench.proctree import ENGINE, Measured  # noqa: E402
from bench.report import write_section  # noqa: E402
from fabric.paths import cache_root  # noqa: E402
from ops.localpve.lane import loopback, port  # noqa: E402
from ops.localpve.s3_server import S3Store, seaweedfs  # noqa: E402

SIZES = (100, 500, 1000)
BACKENDS = ("file", "s3")
PROGRAMS = ("raw", "fabric")
APPLY_STEPS = STEPS[1:]  # up, noop (a no-change preview), destroy
TITLE = "Scale: one stack's ceiling, file and S3 backends"


SLOT = 0
RUN = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
"""When this run started: every row carries it, so a table merged from several runs says which
figures came from the same run (and the same load)."""


def use_slot(slot: int) -> None:
    """Move this run's local Proxmox, mirror and S3 server to the lane's second addresses."""
    global SLOT  # noqa: PLW0603 - one switch for the whole run, set once from the command line
    SLOT = slot
    bench_engine.PVE_HOST = loopback(24)
    bench_engine.MIRROR_PORT = port(8087)


def record(path: Path, row: dict[str, Any]) -> None:
    rows = json.loads(path.read_text()) if path.exists() else []
    rows.append(row)
    path.write_text(json.dumps(rows, indent=1))


def row_of(n: int, backend: str, program: str, step: str, m: Measured) -> dict[str, Any]:
    return {
        "n": n,
        "backend": backend,
        "program": program,
        "step": step,
        "wall": round(m.seconds, 2),
        "cpu": round(m.cpu, 2),
        "engine_cpu": round(m.cpu_by_role.get(ENGINE, 0.0), 2),
        "peak_mib": round(m.peak / 2**20),
        "load": round(os.getloadavg()[0], 1),
        "run": RUN,
    }


class ServerCpu:
    """CPU seconds the S3 server used since the previous reading: the backend's side of each step,
    which the process-tree measure of the engine does not see (the server is not its child)."""

    def __init__(self, pid: int | None) -> None:
        self.pid = pid
        self.last = self.read()

    def read(self) -> float:
        if self.pid is None:
            return 0.0
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def since_last(self) -> float:
        now = self.read()
        used, self.last = now - self.last, now
        return used


def recorder(results: Path, server: ServerCpu, key: tuple[int, str, str]) -> Callable[[str, Measured], None]:
    """What ``run_steps`` calls after each step: the row, with the S3 server's CPU, appended to ``results``."""

    def on_step(step: str, m: Measured) -> None:
        row = row_of(*key, step, m)
        row["server_cpu"] = round(server.since_last(), 2)
        record(results, row)
        if row["server_cpu"]:
            print(f"  (S3 server CPU {row['server_cpu']:.1f} s)", flush=True)

    return on_step


@contextlib.contextmanager
def backend(name: str, tmp: Path, keep_log: Path) -> Iterator[S3Store | None]:
    """The S3 server for ``s3`` (None for ``file``). If the run fails, the server's log is copied
    to ``keep_log`` first: its data directory goes with the scratch directory, and a server-side
    error (a 500 from the gateway) is only explained there."""
    if name != "s3":
        yield None
        return
    with seaweedfs(tmp / "s3", host=loopback(6 if SLOT == 0 else 26)) as store:
        try:
            yield store
        except BaseException:
            shutil.copyfile(store.data_dir / "weed.log", keep_log)
            print(f"S3 server log kept in {keep_log}", file=sys.stderr, flush=True)
            raise


def run(sizes: list[int], backends: list[str], results: Path, programs: list[str]) -> None:
    with tempfile.TemporaryDirectory(prefix="samakia-scale-") as tmp:
        base = Path(tmp)
        stores: dict[str, S3Store | None] = {}
        with contextlib.ExitStack() as stack:
            for name in backends:
                (base / name).mkdir()
                stores[name] = stack.enter_context(backend(name, base, results.with_suffix(".weed.log")))
            for n in sizes:
                for name in backends:
                    for program in programs:
                        p = project(base / name, n, baseline=program == "raw")
                        store = stores[name]
                        env = store.env(prefix=f"{program}-{n}") if store is not None else None
                        print(f"{n} containers, {name} backend, {program}:", flush=True)
                        on_step = recorder(
                            results, ServerCpu(store.pid if store is not None else None), (n, name, program)
                        )
                        run_steps(p, APPLY_STEPS, backend_env=env, on_step=on_step)


def exponent(c1: float, c2: float, n1: int, n2: int) -> float:
    return math.log(c2 / c1) / math.log(n2 / n1) if c1 > 0 and c2 > 0 and n1 != n2 else float("nan")


def _cpu(r: dict[str, Any]) -> float:
    """All the CPU a step cost: the engine's process tree plus, on S3, the server's."""
    return float(r["cpu"]) + float(r.get("server_cpu", 0.0))


CROSS_RUN = "†"
"""Marks a ratio or exponent whose two figures come from different runs (so different loads)."""


def _across(*rows: dict[str, Any]) -> str:
    return CROSS_RUN if len({r.get("run") for r in rows}) > 1 else ""


def _exponents(
    by: dict[tuple[Any, ...], dict[str, Any]], key: tuple[str, str, str], sizes: list[int], field: str
) -> str:
    out = []
    for a, b in itertools.pairwise(sizes):
        ra, rb = by.get((*key, a)), by.get((*key, b))
        if ra and rb:
            ca, cb = (_cpu(ra), _cpu(rb)) if field == "cpu" else (ra[field], rb[field])
            out.append(f"{exponent(ca, cb, a, b):.2f}{_across(ra, rb)}")
        else:
            out.append("-")
    return ", ".join(out)


def fit(points: list[tuple[int, float]]) -> tuple[float, float] | None:
    """``cost = a*n + b*n**2`` through the measured points (least squares; exact for two): the linear
    per-resource work and the per-step checkpoint term that grows with the stack."""
    if len({n for n, _ in points}) < 2:
        return None
    # Normal equations of the two-parameter model without intercept.
    s2 = sum(n**2 for n, _ in points)
    s3 = sum(n**3 for n, _ in points)
    s4 = sum(n**4 for n, _ in points)
    t1 = sum(n * c for n, c in points)
    t2 = sum(n**2 * c for n, c in points)
    det = s2 * s4 - s3 * s3
    return (t1 * s4 - t2 * s3) / det, (s2 * t2 - s3 * t1) / det


def fit_lines(by: dict[tuple[Any, ...], dict[str, Any]], sizes: list[int]) -> list[str]:
    """Per backend and program, the apply's fit, the size where its square term equals its linear
    one, and 5 stacks of 1000 against 1 stack of 5000 (measured where run, else from the fit)."""
    out = [
        "",
        "Apply (`up`) CPU fitted as a*n + b*n^2 over the sizes run; n* = a/b is where the per-step "
        "checkpoint term equals the linear work; 5 x 1000 = five stacks of 1000 (1000 measured if run), "
        "1 x 5000 = the fit at 5000 (not run):",
        "",
        "| backend | program | a (s per container) | b (s per container²) | n* | 5 x 1000 CPU s "
        "| 1 x 5000 CPU s | ratio |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name in BACKENDS:
        for program in PROGRAMS:
            points = [(n, _cpu(by[(name, "up", program, n)])) for n in sizes if (name, "up", program, n) in by]
            ab = fit(points)
            if ab is None or ab[1] <= 0:
                continue
            a, b = ab
            at_1000 = next((c for n, c in points if n == 1000), a * 1000 + b * 1000**2)
            five = 5 * at_1000
            one = a * 5000 + b * 5000**2
            measured = "" if any(n == 1000 for n, _ in points) else " (fit)"
            out.append(
                f"| {name} | {program} | {a:.4f} | {b:.2e} | {a / b:.0f} | {five:.0f}{measured} | {one:.0f} "
                f"| {one / five:.1f} |"
            )
    return out


def render(rows: list[dict[str, Any]]) -> str:
    """Per backend, step and program: each size's wall / CPU / peak, and the growth exponents."""
    by = {(r["backend"], r["step"], r["program"], r["n"]): r for r in rows}
    sizes = sorted({r["n"] for r in rows})
    pairs = ", ".join(f"{a}->{b}" for a, b in itertools.pairwise(sizes))
    lines = [
        "| backend | step | program | "
        + " | ".join(f"{n}: wall s / CPU s / peak MiB / load" for n in sizes)
        + f" | exponent, CPU ({pairs}) | exponent, engine CPU |",
        "| --- | --- | --- |" + " ---: |" * len(sizes) + " ---: | ---: |",
    ]
    for name in BACKENDS:
        for step, _ in APPLY_STEPS:
            for program in PROGRAMS:
                key = (name, step, program)
                cells = []
                for n in sizes:
                    r = by.get((*key, n))
                    cells.append(f"{r['wall']:.1f} / {_cpu(r):.1f} / {r['peak_mib']} / {r['load']}" if r else "not run")
                if all(c == "not run" for c in cells):
                    continue
                lines.append(
                    f"| {name} | {step} | {program} | "
                    + " | ".join(cells)
                    + f" | {_exponents(by, key, sizes, 'cpu')} | {_exponents(by, key, sizes, 'engine_cpu')} |"
                )
    lines += ["", f"Fabric / raw CPU ratio ({CROSS_RUN}: the two from different runs):", ""]
    lines += [
        "| backend | step | " + " | ".join(str(n) for n in sizes) + " |",
        "| --- | --- |" + " ---: |" * len(sizes),
    ]
    for name in BACKENDS:
        for step, _ in APPLY_STEPS:
            cells = []
            for n in sizes:
                f, r = by.get((name, step, "fabric", n)), by.get((name, step, "raw", n))
                cells.append(f"{_cpu(f) / _cpu(r):.2f}{_across(f, r)}" if f and r and _cpu(r) else "-")
            if any(c != "-" for c in cells):
                lines.append(f"| {name} | {step} | " + " | ".join(cells) + " |")
    lines += fit_lines(by, sizes)
    lines += ["", "Runs (load = the 1-minute load average at the end of each step, 2 cores):", ""]
    shown = list(by.values())  # a row measured again in a later run is replaced by it above
    for run in sorted({str(r.get("run", "unrecorded")) for r in shown}):
        mine = [r for r in shown if str(r.get("run", "unrecorded")) == run]
        what = [f"{b} {p} {n}" for b, n, p in sorted({(r["backend"], r["n"], r["program"]) for r in mine})]
        loads = [r["load"] for r in mine]
        lines.append(f"- {run}: load {min(loads)} to {max(loads)}; {', '.join(what)}.")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--sizes", type=int, nargs="*", default=list(SIZES))
    ap.add_argument("--backends", nargs="*", choices=BACKENDS, default=list(BACKENDS))
    ap.add_argument("--results", type=Path, default=cache_root() / "bench-scale.json")
    ap.add_argument("--programs", nargs="*", choices=PROGRAMS, default=list(PROGRAMS))
    ap.add_argument("--append", action="store_true", help="add to the results file instead of starting it afresh")
    ap.add_argument(
        "--slot",
        type=int,
        choices=(0, 1),
        default=0,
        help="1: the lane's second set of addresses, so a second run can go beside the first",
    )
    ap.add_argument("--render", action="store_true", help="only render the results file")
    ap.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = ap.parse_args()
    if args.slot:
        use_slot(args.slot)
    if not args.render:
        if not args.append:
            args.results.unlink(missing_ok=True)
        run(args.sizes, args.backends, args.results, args.programs)
    table = render(json.loads(args.results.read_text()) if args.results.exists() else [])
    print(table)
    if not args.no_write:
        write_section(TITLE, table + "\n\n" + NOTE)


NOTE = (
    "Run: `bench/bench_scale.py` (part of `make bench`). Real engine, stand-in providers, the local Proxmox "
    "with time scale 0 and containers as API records, infrastructure only; containers in intent files. "
    "up = `pulumi up --skip-preview` on the empty stack; noop = a preview expecting no changes; destroy. "
    "file = the DIY file backend; s3 = the DIY backend on a SeaweedFS bucket on loopback. CPU = the CLI, "
    "language host, program and providers together, plus the S3 server's own CPU on s3; peak = the engine's "
    "process tree's resident memory (the server's not counted). Exponent = "
    "log(CPU ratio) / log(size ratio) between neighbouring sizes: 1 linear, 2 quadratic."
)


if __name__ == "__main__":
    main()
