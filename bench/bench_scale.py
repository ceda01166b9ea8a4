"""Benchmark: the ceiling of one stack. ``pulumi up``, a no-change preview and ``destroy`` at 100, 500
and 1000 containers, on the file backend and on an S3 bucket (SeaweedFS on loopback): the fabric,
a raw Pulumi program and OpenTofu with bpg's own provider (``bench/tofu_scale.py``) in the same run.

    python bench/bench_scale.py                          # 100 500 1000, both backends, all three
    python bench/bench_scale.py --sizes 100 --backends s3 --no-write
    python bench/bench_scale.py --sizes 100 500 --programs fabric --levers per-step-checkpoints gzip
    python bench/bench_scale.py --render                 # the table again from the results file

``--levers`` also runs the Pulumi programs with each named lever (``LEVERS``: an environment
variable or an ``up``/``destroy`` argument), as rows named ``program+lever``.

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
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import bench_engine  # noqa: E402
from bench.bench_engine import STEPS, project, run_steps  # noqa: E402
from bench.proctree import ENGINE, TOFU, Measured, run_measured  # noqa: E402
from bench.report import write_section  # noqa: E402
from bench.tofu_scale import STEPS as TOFU_STEPS  # noqa: E402
from bench.tofu_scale import s3_backend, tofu_config, tofu_env  # noqa: E402
from fabric.paths import cache_root  # noqa: E402
from ops.localpve.lane import loopback, port  # noqa: E402
from ops.localpve.s3_server import REGION, S3Store, seaweedfs  # noqa: E402
from ops.localpve.services import local_services  # noqa: E402

SIZES = (100, 500, 1000)
BACKENDS = ("file", "s3")
PROGRAMS = ("raw", "fabric", "tofu")
"""The raw Pulumi program, the fabric, and OpenTofu with bpg's own provider (``bench/tofu_scale.py``)."""
LEVERS: dict[str, tuple[dict[str, str], tuple[str, ...]]] = {
    # Each: the environment and the extra ``up``/``destroy`` arguments of one lever (docs/benchmarks.md
    # says what each does in the engine and what it was measured to do).
    "no-backups": ({"PULUMI_DIY_BACKEND_DISABLE_CHECKPOINT_BACKUPS": "true"}, ()),
    "gzip": ({"PULUMI_DIY_BACKEND_GZIP": "true"}, ()),
    # The stack runner skips the per-step checkpoint (ops/stack/workspace.py, FAST_ENV): this is the
    # engine's default, as a plain ``pulumi up`` runs it.
    "per-step-checkpoints": ({"PULUMI_SKIP_CHECKPOINTS": "false"}, ()),
    "parallel-2": ({}, ("--parallel", "2")),
    "parallel-32": ({}, ("--parallel", "32")),
}
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


def row_of(key: tuple[int, str, str], step: str, m: Measured, tool_role: str = ENGINE) -> dict[str, Any]:
    n, backend_name, program = key
    return {
        "n": n,
        "backend": backend_name,
        "program": program,
        "step": step,
        "wall": round(m.seconds, 2),
        "cpu": round(m.cpu, 2),
        "engine_cpu": round(m.cpu_by_role.get(tool_role, 0.0), 2),
        "roles": {role: round(cpu, 2) for role, cpu in sorted(m.cpu_by_role.items())},
        "peak_mib": round(m.peak / 2**20),
        "load": round(os.getloadavg()[0], 1),
        "run": RUN,
    }


class StatCpu:
    """CPU seconds a process or thread outside the measured tree used since the previous reading:
    the S3 server (the backend's side of each step) and the local Proxmox's event-loop thread (the
    API's side; it runs in this process), which the process-tree measure does not see."""

    def __init__(self, stat: Path | None) -> None:
        self.stat = stat
        self.last = self.read()

    @classmethod
    def of_process(cls, pid: int | None) -> StatCpu:
        return cls(Path(f"/proc/{pid}/stat") if pid is not None else None)

    @classmethod
    def of_thread(cls, tid: int | None) -> StatCpu:
        return cls(Path(f"/proc/self/task/{tid}/stat") if tid is not None else None)

    def read(self) -> float:
        if self.stat is None:
            return 0.0
        fields = self.stat.read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def since_last(self) -> float:
        now = self.read()
        used, self.last = now - self.last, now
        return used


class Recorder:
    """What each step calls with its measure: the row, with the S3 server's and the local Proxmox's
    CPU, appended to ``results`` and printed."""

    def __init__(self, results: Path, server: StatCpu, key: tuple[int, str, str], tool_role: str = ENGINE) -> None:
        self.results, self.server, self.key, self.tool_role = results, server, key, tool_role
        self.pve = StatCpu(None)

    def start(self, running: Any) -> None:
        """The local Proxmox is up: read its loop thread's CPU from here on."""
        self.pve = StatCpu.of_thread(running.thread.native_id)
        self.server.since_last()  # what the server did while the services started is no step's

    def __call__(self, step: str, m: Measured) -> None:
        row = row_of(self.key, step, m, self.tool_role)
        row["server_cpu"] = round(self.server.since_last(), 2)
        row["pve_cpu"] = round(self.pve.since_last(), 2)
        record(self.results, row)
        print(f"  (S3 server CPU {row['server_cpu']:.1f} s, local Proxmox CPU {row['pve_cpu']:.1f} s)", flush=True)


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


def wire_bin() -> Path:
    """OpenTofu's and bpg's bin dir (``scripts/wire.sh``: built once, cached by version)."""
    out = subprocess.run(
        ["bash", str(ROOT / "scripts" / "wire.sh")],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"scripts/wire.sh failed:\n{out.stderr[-3000:]}")
    return Path(out.stdout.strip())


def _tofu(bin_dir: Path, workdir: Path, env: dict[str, str], *args: str) -> Measured:
    return run_measured([str(bin_dir / "tofu"), *args, "-no-color"], cwd=workdir, env=env)


def run_tofu(p: Path, store: S3Store | None, prefix: str, on_step: Recorder) -> None:
    """OpenTofu's apply, no-change plan and destroy of project ``p``'s containers on the same local
    Proxmox set-up as the Pulumi programs (``tofu init`` first, not measured, as Pulumi's stack init)."""
    bin_dir = wire_bin()
    work = p / "tofu"
    work.mkdir()
    stack_file = p / f"Pulumi.{bench_engine.STACK}.yaml"
    s3 = s3_backend(store.bucket, f"http://{store.endpoint}", REGION, prefix) if store is not None else None
    (work / "main.tf.json").write_text(json.dumps(tofu_config(p, stack_file, s3), indent=1))
    with local_services(
        p,
        p / ".state",
        bench_engine.PVE_HOST,
        bench_engine.MIRROR_PORT,
        stack=bench_engine.STACK,
        containers=False,
    ) as (services_env, running):
        creds = {k: v for k, v in (store.env() if store is not None else {}).items() if k.startswith("AWS_")}
        env = tofu_env(bin_dir, work, {**services_env, **creds})
        init = _tofu(bin_dir, work, env, "init", "-input=false")
        if init.result.returncode != 0:
            raise SystemExit(f"tofu init failed:\n{(init.result.stdout + init.result.stderr)[-3000:]}")
        on_step.start(running)
        for label, args in TOFU_STEPS:
            m = _tofu(bin_dir, work, env, *args)
            # plan -detailed-exitcode: 2 would be a change where none is expected.
            if m.result.returncode != 0:
                raise SystemExit(f"tofu {' '.join(args)} failed:\n{(m.result.stdout + m.result.stderr)[-3000:]}")
            on_step(label, m)
            roles = ", ".join(f"{role} {cpu:.1f}" for role, cpu in sorted(m.cpu_by_role.items()))
            print(
                f"  tofu-{p.name:9s} {label:8s} {m.seconds:8.1f} s {m.cpu:8.1f} s CPU "
                f"{m.peak / 2**20:7.0f} MiB ({roles})"
            )


def lever_steps(lever: str | None) -> tuple[tuple[tuple[str, tuple[str, ...]], ...], dict[str, str]]:
    """The Pulumi steps and environment with ``lever`` applied (its arguments go to ``up`` and ``destroy``)."""
    if lever is None:
        return APPLY_STEPS, {}
    env, extra = LEVERS[lever]
    steps = tuple((label, (*args, *extra) if label != "noop" else args) for label, args in APPLY_STEPS)
    return steps, env


def variants(program: str, levers: list[str], plain: bool = True) -> list[str | None]:
    """The runs of one program: as today (None, unless not ``plain``), then with each lever (the
    Pulumi programs only)."""
    if program == "tofu":
        return [None] if plain else []
    return [None, *levers] if plain else [*levers]


def run(
    sizes: list[int], backends: list[str], results: Path, programs: list[str], *, levers: list[str], plain: bool = True
) -> None:
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
                        for lever in variants(program, levers, plain):
                            run_one(base / name, n, stores[name], program, lever=lever, results=results)


def run_one(where: Path, n: int, store: S3Store | None, program: str, *, lever: str | None, results: Path) -> None:
    """One program (with ``lever``, if any) at ``n`` containers on one backend: up, no-change, destroy."""
    label = f"{program}+{lever}" if lever else program
    (where / label).mkdir(parents=True, exist_ok=True)
    p = project(where / label, n, baseline=program != "fabric")
    prefix = f"{label}-{n}"
    backend_name = "s3" if store is not None else "file"
    print(f"{n} containers, {backend_name} backend, {label}:", flush=True)
    server = StatCpu.of_process(store.pid if store is not None else None)
    on_step = Recorder(results, server, (n, backend_name, label), TOFU if program == "tofu" else ENGINE)
    if program == "tofu":
        run_tofu(p, store, prefix, on_step)
        return
    steps, lever_env = lever_steps(lever)
    env = store.env(prefix=prefix) if store is not None else None
    run_steps(p, steps, lever_env, backend_env=env, on_step=on_step, on_start=on_step.start)


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
            # A negative linear term (the points curve faster than the model) has no crossing size.
            crossing = f"{a / b:.0f}" if a > 0 else "-"
            out.append(
                f"| {name} | {program} | {a:.4f} | {b:.2e} | {crossing} | {five:.0f}{measured} | {one:.0f} "
                f"| {one / five:.1f} |"
            )
    return out


Index = dict[tuple[Any, ...], dict[str, Any]]


def _wall(r: dict[str, Any]) -> float:
    return float(r["wall"])


def main_table(by: Index, sizes: list[int], programs: list[str]) -> list[str]:
    """Per backend, step and program: each size's wall / CPU / peak / load, and the growth exponents."""
    pairs = ", ".join(f"{a}->{b}" for a, b in itertools.pairwise(sizes))
    lines = [
        "| backend | step | program | "
        + " | ".join(f"{n}: wall s / CPU s / peak MiB / load" for n in sizes)
        + f" | exponent, CPU ({pairs}) | exponent, wall | exponent, tool CPU |",
        "| --- | --- | --- |" + " ---: |" * len(sizes) + " ---: | ---: | ---: |",
    ]
    for name in BACKENDS:
        for step, _ in APPLY_STEPS:
            for program in programs:
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
                    + f" | {_exponents(by, key, sizes, 'cpu')} | {_exponents(by, key, sizes, 'wall')}"
                    + f" | {_exponents(by, key, sizes, 'engine_cpu')} |"
                )
    return lines


def ratio_table(by: Index, sizes: list[int], over: str, under: str) -> list[str]:
    """``over`` / ``under`` per backend, step and size: CPU and wall."""
    lines = [
        "",
        f"{over} / {under}, CPU and wall ({CROSS_RUN}: the two from different runs):",
        "",
        "| backend | step | " + " | ".join(f"{n}: CPU / wall" for n in sizes) + " |",
        "| --- | --- |" + " ---: |" * len(sizes),
    ]
    for name in BACKENDS:
        for step, _ in APPLY_STEPS:
            cells = []
            for n in sizes:
                f, r = by.get((name, step, over, n)), by.get((name, step, under, n))
                ok = f and r and _cpu(r) and _wall(r)
                cells.append(
                    f"{_cpu(f) / _cpu(r):.2f} / {_wall(f) / _wall(r):.2f}{_across(f, r)}" if f and r and ok else "-"
                )
            if any(c != "-" for c in cells):
                lines.append(f"| {name} | {step} | " + " | ".join(cells) + " |")
    return lines


def server_table(by: Index, sizes: list[int], programs: list[str]) -> list[str]:
    """The servers' side of each step: the local Proxmox's loop thread and, on S3, the S3 server."""
    lines = [
        "",
        "The servers' CPU s per step (local Proxmox API / S3 server; the S3 figure is already in the CPU above, "
        "the Proxmox one is not):",
        "",
        "| backend | step | program | " + " | ".join(str(n) for n in sizes) + " |",
        "| --- | --- | --- |" + " ---: |" * len(sizes),
    ]
    for name in BACKENDS:
        for step, _ in APPLY_STEPS:
            for program in programs:
                rows = [by.get((name, step, program, n)) for n in sizes]
                if not any(rows):
                    continue
                cells = [f"{r.get('pve_cpu', 0.0):.1f} / {r.get('server_cpu', 0.0):.1f}" if r else "-" for r in rows]
                lines.append(f"| {name} | {step} | {program} | " + " | ".join(cells) + " |")
    return lines


def lever_table(by: Index, sizes: list[int], levers: list[str]) -> list[str]:
    """Each lever's row against the same program's plain row: CPU and wall, and their ratio."""
    lines = [
        "",
        "Levers (program+lever against the program as it runs today; CPU s / wall s, and the ratio of each):",
        "",
        "| backend | step | lever | " + " | ".join(f"{n}: CPU / wall (ratio)" for n in sizes) + " |",
        "| --- | --- | --- |" + " ---: |" * len(sizes),
    ]
    for name in BACKENDS:
        for step, _ in APPLY_STEPS:
            for label in levers:
                base = label.split("+")[0]
                cells = []
                for n in sizes:
                    lv, b = by.get((name, step, label, n)), by.get((name, step, base, n))
                    if lv and b and _cpu(b) and _wall(b):
                        cells.append(
                            f"{_cpu(lv):.1f} / {_wall(lv):.1f} ({_cpu(lv) / _cpu(b):.2f} / "
                            f"{_wall(lv) / _wall(b):.2f}){_across(lv, b)}"
                        )
                    else:
                        cells.append(f"{_cpu(lv):.1f} / {_wall(lv):.1f}" if lv else "-")
                if any(c != "-" for c in cells):
                    lines.append(f"| {name} | {step} | {label} | " + " | ".join(cells) + " |")
    return lines


def _goal(name: str, value: float, limit: float) -> str:
    return f"| {name} | {value:.2f} | {limit:.2f} | {'met' if value <= limit else 'missed'} |"


def goals_table(by: Index) -> list[str]:
    """Issue 28's goals as ratios, from the rows at hand (a goal whose rows were not run is left out)."""
    lines = ["", "The goals, as ratios (at most the limit meets the goal):", "", "| goal | measured | limit | |"]
    lines.append("| --- | ---: | ---: | --- |")
    for name in BACKENDS:
        for n in (500, 1000):
            f, t = by.get((name, "up", "fabric", n)), by.get((name, "up", "tofu", n))
            if f and t:
                lines.append(_goal(f"{name}: fabric `up` / `tofu apply` at {n}, CPU", _cpu(f) / _cpu(t), 1.0))
                lines.append(_goal(f"{name}: fabric `up` / `tofu apply` at {n}, wall", _wall(f) / _wall(t), 1.0))
        a, b = by.get((name, "up", "fabric", 100)), by.get((name, "up", "fabric", 1000))
        if a and b:
            lines.append(
                _goal(f"{name}: fabric `up` CPU exponent, 100 -> 1000", exponent(_cpu(a), _cpu(b), 100, 1000), 1.15)
            )
        for n in SIZES:
            f, t = by.get((name, "noop", "fabric", n)), by.get((name, "noop", "tofu", n))
            if f and t:
                lines.append(_goal(f"{name}: no-change preview / `tofu plan` at {n}, CPU", _cpu(f) / _cpu(t), 1.0))
        for n in SIZES:
            f, r = by.get((name, "up", "fabric", n)), by.get((name, "up", "raw", n))
            if f and r:
                lines.append(_goal(f"{name}: fabric / raw program `up` at {n}, CPU", _cpu(f) / _cpu(r), 1.2))
    return lines if len(lines) > 5 else []


def render(rows: list[dict[str, Any]]) -> str:
    """The tables of every program measured, the ratios between them, the levers and the runs."""
    by: Index = {(r["backend"], r["step"], r["program"], r["n"]): r for r in rows}
    sizes = sorted({r["n"] for r in rows})
    measured = {r["program"] for r in rows}
    programs = [p for p in PROGRAMS if p in measured]
    lines = main_table(by, sizes, programs)
    lines += ratio_table(by, sizes, "fabric", "raw")
    lines += ratio_table(by, sizes, "fabric", "tofu")
    lines += goals_table(by)
    lines += server_table(by, sizes, programs)
    levers = sorted(p for p in measured if "+" in p)
    if levers:
        lines += lever_table(by, sizes, levers)
    lines += fit_lines(by, sizes)
    lines += ["", "Runs (load = the 1-minute load average at the end of each step, 2 cores):", ""]
    shown = list(by.values())  # a row measured again in a later run is replaced by it above
    for run_at in sorted({str(r.get("run", "unrecorded")) for r in shown}):
        mine = [r for r in shown if str(r.get("run", "unrecorded")) == run_at]
        what = [f"{b} {p} {n}" for b, n, p in sorted({(r["backend"], r["n"], r["program"]) for r in mine})]
        loads = [r["load"] for r in mine]
        lines.append(f"- {run_at}: load {min(loads)} to {max(loads)}; {', '.join(what)}.")
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
    ap.add_argument(
        "--levers",
        nargs="*",
        choices=sorted(LEVERS),
        default=[],
        help="also run the Pulumi programs with each of these levers (rows named program+lever)",
    )
    ap.add_argument(
        "--levers-only", action="store_true", help="only the lever runs (their plain rows from another run: marked)"
    )
    ap.add_argument("--render", action="store_true", help="only render the results file")
    ap.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = ap.parse_args()
    if args.slot:
        use_slot(args.slot)
    if not args.render:
        # The engine and its bridged provider registered (cached; as bench_engine.py does).
        subprocess.run(["bash", str(ROOT / "scripts" / "engine.sh")], check=True, capture_output=True)
        if not args.append:
            args.results.unlink(missing_ok=True)
        run(args.sizes, args.backends, args.results, args.programs, levers=args.levers, plain=not args.levers_only)
    table = render(json.loads(args.results.read_text()) if args.results.exists() else [])
    print(table)
    if not args.no_write:
        write_section(TITLE, table + "\n\n" + NOTE)


NOTE = (
    "Run: `bench/bench_scale.py` (part of `make bench`). Real engine and the project's bridged build of bpg's provider "
    "v0.112.0 (scripts/proxmoxve.sh); OpenTofu v1.12.6 with bpg's own v0.112.0 plugin (scripts/wire.sh); the local "
    "Proxmox with time scale 0 and containers as API records, infrastructure only; the Pulumi programs' containers "
    "in intent files, OpenTofu's in `main.tf.json` derived from the same files (`bench/tofu_scale.py`). "
    "The Pulumi programs run as the stack runner runs them: without the engine's per-step checkpoint "
    "(`ops/stack/workspace.py`, `FAST_ENV`; the `per-step-checkpoints` lever is the engine's default). "
    "up = `pulumi up --skip-preview` on the empty stack / `tofu apply -auto-approve`; noop = a preview expecting no "
    "changes / `tofu plan -detailed-exitcode` (which refreshes every container first; the preview reads nothing); "
    "destroy = `pulumi destroy` / `tofu destroy` (which refreshes first). Each tool's default parallelism (Pulumi 8 "
    "here: 4 x GOMAXPROCS; OpenTofu 10). file = the DIY file backend / OpenTofu's local state file; s3 = the DIY "
    "backend / OpenTofu's `s3` backend with `use_lockfile`, on one SeaweedFS bucket on loopback. CPU = every process "
    "of the tool (Pulumi: CLI, language host, program, providers; OpenTofu: CLI and provider plugins), plus the S3 "
    "server's own CPU on s3; the local Proxmox's CPU (its event-loop thread in the benchmark's process) is shown "
    "apart. peak = the tool's process tree's resident memory (the servers' not counted). Exponent = "
    "log(ratio) / log(size ratio) between neighbouring sizes: 1 linear, 2 quadratic. Every run niced (19) on a "
    "machine shared with other engineers' tests: read CPU first, wall with the load beside it."
)


if __name__ == "__main__":
    main()
