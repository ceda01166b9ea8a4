"""Benchmark: the real engine against the local Proxmox, fabric program vs a raw-resource program.

    python bench/bench_engine.py                 # 10, 100, 1000 (preview and up), 5000 (preview)
    python bench/bench_engine.py --sizes 10 100  # a subset; --preview-only 5000 likewise
    python bench/bench_engine.py --checkpoints 200 400  # previews with Pulumi's per-step checkpoints and without

Addresses follow the lane (``SAMAKIA_TEST_LANE``, ``ops/localpve/lane.py``), so two checkouts can
run it side by side; lane 0 binds what it always did.

Each size runs in a scratch project on its own state and local Proxmox, with its containers in
intent files that the stack file names (docs/scale.md): the same stack for both programs. In
the same run, for the baseline (the same provider resources registered flat from the raw
stack, no components and no validation; ``bench.bench_program.baseline_program``) and then for
the fabric: a preview on the empty stack, an ``up``, a no-change preview, a destroy. For each
the wall time and the peak resident memory of the whole process tree (CLI, language host,
providers). Infrastructure only: config policies would time Ansible, which the playbook
benchmark does. The ``--preview-only`` sizes prove that a stack that large previews at all.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_program import synthetic_raw  # noqa: E402
from bench.proctree import ENGINE, PROGRAM, Measured, run_measured  # noqa: E402
from bench.report import write_section  # noqa: E402
from ops.localpve.lane import loopback, port  # noqa: E402
from ops.localpve.services import ensure_local_images  # noqa: E402
from ops.stack.local import local_fabric  # noqa: E402
from ops.stack.workspace import FAST_ENV  # noqa: E402

SIZES = (10, 100, 1000)
PREVIEW_ONLY = (5000,)
PER_FILE = 1000  # containers per intent file
STACK = "local-bench"  # a local stack name: the stand-in providers refuse any other (providers/base.py)
# Moved by the lane (SAMAKIA_TEST_LANE) like every address a checkout binds; lane 0 keeps 127.0.0.4 / 8097.
PVE_HOST = loopback(4)
MIRROR_PORT = port(8097)
BASELINE_MAIN = """
import sys
from pathlib import Path
here = Path(__file__).absolute().parent
sys.path.insert(0, str(here))
from bench.bench_program import baseline_program
from fabric.stack_config import read_namespace
raw, _ = read_namespace()
baseline_program(raw, here)
"""
STEPS = (
    ("preview", ("preview",)),
    ("up", ("up", "--yes", "--skip-preview")),
    ("noop", ("preview", "--expect-no-changes")),
    ("destroy", ("destroy", "--yes", "--skip-preview")),
)


def stack_and_intent(n: int) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The stack file (naming its intent files) and the intent files, for ``n`` containers on two nodes."""
    raw = synthetic_raw(n)
    containers = {
        name: {
            **{k: v for k, v in spec.items() if k != "policy"},
            "node": f"pve{spec['vmid'] % 2 + 1}",
            "image": "base",
        }
        for name, spec in raw.pop("containers").items()
    }
    names = list(containers)
    files = {
        f"intent/containers-{k // PER_FILE:02d}.yaml": {
            "containers": {c: containers[c] for c in names[k : k + PER_FILE]}
        }
        for k in range(0, n, PER_FILE)
    }
    raw.update(
        images={"base": "debian12-base@1.0.0"},
        policies={},
        nodes={"pve1": {}, "pve2": {}},
        proxmox={
            "endpoint": f"https://{PVE_HOST}:8006/",
            "username": "root@pam",
            "password": {"env": "PROXMOX_VE_PASSWORD"},
        },
        imageCatalog="catalog.bench.yaml",
        imageMirror=f"http://127.0.0.1:{MIRROR_PORT}",
        intentFiles=list(files),
    )
    return {"config": {f"fabric:{k}": v for k, v in raw.items()}}, files


def project(tmp: Path, n: int, baseline: bool) -> Path:
    p = tmp / f"{'baseline' if baseline else 'fabric'}-{n}"
    p.mkdir()
    for name in ("fabric", "ops", "playbooks", "bench", "providers", "Pulumi.yaml", ".venv"):
        (p / name).symlink_to(ROOT / name)
    if baseline:
        (p / "__main__.py").write_text(BASELINE_MAIN)
    else:
        (p / "__main__.py").symlink_to(ROOT / "__main__.py")
    stack, files = stack_and_intent(n)
    (p / f"Pulumi.{STACK}.yaml").write_text(yaml.safe_dump(stack, sort_keys=False))
    for rel, body in files.items():
        (p / rel).parent.mkdir(parents=True, exist_ok=True)
        (p / rel).write_text(yaml.safe_dump(body, sort_keys=False, width=1000))
    ensure_local_images(p, STACK, p / ".state" / "mirror")
    return p


def run_steps(
    p: Path,
    steps: tuple[tuple[str, tuple[str, ...]], ...],
    env: dict[str, str] | None = None,
    *,
    backend_env: dict[str, str] | None = None,
    on_step: Callable[[str, Measured], None] | None = None,
    on_start: Callable[[Any], None] | None = None,
) -> dict[str, Measured]:
    """Each step's measure (``env`` over the environment the stack runner gives the step;
    ``backend_env`` for another state backend than the project's file one; ``on_step`` sees each
    measure as it is taken; ``on_start`` the running local Proxmox before the first step); stops
    with the engine's own words when one fails."""
    out = {}
    # API records only (containers=False): the point is the engine's cost at scale, not booting
    # a thousand containers; the e2e tier and bench_lxc.py run real ones.
    with local_fabric(
        p, STACK, pve_host=PVE_HOST, mirror_port=MIRROR_PORT, containers=False, backend_env=backend_env
    ) as (ws, pve):
        if on_start is not None:
            on_start(pve)
        for label, args in steps:
            m = run_measured(ws.argv(*args), cwd=p, env={**ws.env_for(*args), **(env or {})})
            if m.result.returncode != 0:
                tail = (m.result.stdout + m.result.stderr)[-3000:]
                raise SystemExit(f"{p.name}: pulumi {' '.join(args)} failed:\n{tail}")
            out[label] = m
            if on_step is not None:
                on_step(label, m)
            roles = ", ".join(f"{role} {cpu:.1f}" for role, cpu in sorted(m.cpu_by_role.items()))
            print(
                f"  {p.name:14s} {label:8s} {m.seconds:8.1f} s {m.cpu:8.1f} s CPU {m.peak / 2**20:7.0f} MiB ({roles})",
                flush=True,
            )
    return out


def config_bytes(p: Path) -> int:
    """Size of the stack's config as the engine passes it (JSON, one environment variable)."""
    raw = yaml.safe_load((p / f"Pulumi.{STACK}.yaml").read_text())["config"]
    return len(json.dumps({k: json.dumps(v) if not isinstance(v, str) else v for k, v in raw.items()}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="*", default=list(SIZES))
    ap.add_argument("--preview-only", type=int, nargs="*", default=list(PREVIEW_ONLY))
    ap.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    ap.add_argument(
        "--checkpoints",
        type=int,
        nargs="+",
        metavar="N",
        help="instead: previews of N containers with the engine's per-step checkpoints and without (FAST_ENV)",
    )
    args = ap.parse_args()
    subprocess.run(["bash", str(ROOT / "scripts" / "engine.sh")], check=True, capture_output=True)
    if args.checkpoints:
        checkpoints(args.checkpoints, write=not args.no_write)
        return
    full: list[tuple[int, dict[str, Measured], dict[str, Measured]]] = []
    previews: list[tuple[int, dict[str, Measured], dict[str, Measured], int]] = []
    with tempfile.TemporaryDirectory(prefix="samakia-bench-") as tmp:
        for n in args.sizes:
            base = run_steps(project(Path(tmp), n, baseline=True), STEPS)
            fab = run_steps(project(Path(tmp), n, baseline=False), STEPS)
            full.append((n, base, fab))
        for n in args.preview_only:
            pf = project(Path(tmp), n, baseline=False)
            fab = run_steps(pf, STEPS[:1])  # the fabric first: its preview is the proof that the size works
            base = run_steps(project(Path(tmp), n, baseline=True), STEPS[:1])
            previews.append((n, base, fab, config_bytes(pf)))
    table = render(full, previews)
    print(table)
    if not args.no_write:
        write_section("Engine against the local Proxmox", table + "\n\n" + NOTE)


def checkpoints(sizes: list[int], write: bool) -> None:
    """Preview each program at each size as Pulumi runs it by default (a snapshot serialized after
    every step, then discarded) and as the stack runner runs it (``FAST_ENV``: serialized once
    at the end), on the same project, one after the other."""
    every_step = {name: "false" for name in FAST_ENV}
    rows = []
    with tempfile.TemporaryDirectory(prefix="samakia-bench-") as tmp:
        for n in sizes:
            for baseline in (True, False):
                p = project(Path(tmp), n, baseline)
                before = run_steps(p, STEPS[:1], every_step)["preview"]
                after = run_steps(p, STEPS[:1])["preview"]
                rows.append((n, "raw" if baseline else "fabric", before, after))
    table = render_checkpoints(rows)
    print(table)
    if write:
        write_section("Engine preview: per-step checkpoints", table + "\n\n" + CHECKPOINTS_NOTE)


def render_checkpoints(rows: list[tuple[int, str, Measured, Measured]]) -> str:
    """One row per size and program: CPU of the engine, the program and all processes, before / after."""

    def cpu(m: Measured, role: str) -> float:
        return m.cpu_by_role.get(role, 0.0)

    lines = [
        "| containers | program | wall s | engine CPU s | program CPU s | total CPU s | total CPU ratio | peak MiB |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for n, kind, b, a in rows:
        lines.append(
            f"| {n} | {kind} | {b.seconds:.1f} / {a.seconds:.1f} | {cpu(b, ENGINE):.1f} / {cpu(a, ENGINE):.1f} "
            f"| {cpu(b, PROGRAM):.1f} / {cpu(a, PROGRAM):.1f} | {b.cpu:.1f} / {a.cpu:.1f} | {a.cpu / b.cpu:.2f} "
            f"| {_mib(b.peak)} / {_mib(a.peak)} |"
        )
    return "\n".join(lines)


def _mib(b: int) -> str:
    return f"{b / 2**20:.0f}"


def render(
    full: list[tuple[int, dict[str, Measured], dict[str, Measured]]],
    previews: list[tuple[int, dict[str, Measured], dict[str, Measured], int]],
) -> str:
    lines = [
        "| containers | step | baseline s | fabric s | ratio | baseline CPU s | fabric CPU s | CPU ratio "
        "| baseline peak MiB | fabric peak MiB |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    rows = [(n, label, base[label], fab[label]) for n, base, fab in full for label, _ in STEPS]
    rows += [
        (n, f"preview (stack config {size / 1024:.1f} KiB)", b["preview"], f["preview"]) for n, b, f, size in previews
    ]
    for n, label, b, f in rows:
        lines.append(
            f"| {n} | {label} | {b.seconds:.1f} | {f.seconds:.1f} | {f.seconds / b.seconds:.2f} | {b.cpu:.1f} "
            f"| {f.cpu:.1f} | {f.cpu / b.cpu:.2f} | {_mib(b.peak)} | {_mib(f.peak)} |"
        )
    if full:  # where the time goes, at the largest size applied
        n, base, fab = full[-1]
        roles = sorted({r for m in (*base.values(), *fab.values()) for r in m.cpu_by_role})
        lines += [
            "",
            f"CPU seconds by process at {n} containers (baseline / fabric):",
            "",
            "| step | " + " | ".join(roles) + " |",
            "| --- |" + " ---: |" * len(roles),
        ]
        for label, _ in STEPS:
            cells = [f"{base[label].cpu_by_role.get(r, 0):.1f} / {fab[label].cpu_by_role.get(r, 0):.1f}" for r in roles]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


NOTE = (
    "Run: `bench/bench_engine.py` (part of `make bench`), under the shared heavy lock. Real engine, stand-in "
    "providers (docs/engine.md), the local Proxmox with time scale 0, infrastructure only (no config "
    "policies). Every stack keeps its containers in intent files (1000 per file) that the stack file names, "
    "so the config the engine passes stays a few KiB at any size. preview = on the empty stack; up = apply "
    "(no preview); noop = preview after up, expecting no changes; destroy. Peak MiB = resident memory of the "
    "CLI, the language host and the providers together, sampled every 0.25 s; CPU s = their CPU time (the local "
    "Proxmox runs in the benchmark's own process and is not counted)."
)


CHECKPOINTS_NOTE = (
    "Run: `bench/bench_engine.py --checkpoints N...`, under the shared heavy lock. Each cell is "
    "Pulumi's default / the stack runner's preview of the same project on the empty stack, one after "
    "the other: the default serializes the whole snapshot after every step and discards it (a preview "
    "persists nothing); the stack runner sets `PULUMI_SKIP_CHECKPOINTS` for every engine run "
    "(`ops/stack/workspace.py`, `FAST_ENV`, which cites the engine source), so the engine serializes "
    "it once. Ratio = after / before. CPU of the CLI (engine), the program and the providers; peak = "
    "their resident memory together."
)


if __name__ == "__main__":
    main()
