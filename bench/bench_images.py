"""Benchmark: image build time (cold, cached) and reproducibility of the debian12-base template.

    python bench/bench_images.py             # prints the figures, updates docs/benchmarks.md "## Images"
    python bench/bench_images.py --no-write  # prints only

Builds the same version twice from the same inputs (same template, variables, git commit and
SOURCE_DATE_EPOCH) into two separate caches, and once more warm from the first cache. Reports
whether the two cold artifacts are bit-identical; if not, lists the entries that differ
(type, mode, owner, size, mtime, link, content digest, pax headers). Needs root (debootstrap).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import write_section  # noqa: E402
from fabric.catalog import load_catalog  # noqa: E402
from fabric.paths import cache_root  # noqa: E402
from ops.images.artifact import diff_artifacts  # noqa: E402
from ops.images.build import build_image  # noqa: E402
from ops.images.inputs import (  # noqa: E402
    DEFAULT_CATALOG,
    build_inputs,
    commit_time,
    git_commit,
    source_date_epoch,
    tool_versions,
)

FAMILY = "debian12-base"
VERSION = "0.0.1"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    ap.add_argument("--keep", action="store_true", help="keep the two artifacts for inspection")
    args = ap.parse_args()

    inputs = build_inputs(FAMILY, VERSION)
    commit, sde = git_commit(), source_date_epoch()
    base = cache_root() / "bench-images"
    shutil.rmtree(base, ignore_errors=True)
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, cache in (("cold #1", base / "a"), ("cached", base / "a"), ("cold #2", base / "b")):
            catalog = Path(tmp) / name.replace(" ", "").replace("#", "") / "catalog.yaml"
            start = time.monotonic()
            entry = build_image(
                FAMILY, VERSION, catalog, cache_dir=cache, commit=commit, build_epoch=sde, log=lambda _m: None
            )
            runs[name] = (time.monotonic() - start, entry)
            print(f"{name:8s} {runs[name][0]:7.2f} s  sha256 {entry.sha256}  {entry.size} bytes", flush=True)

        # The catalogued latest version, rebuilt from the repository: same code (template digest),
        # its recorded commit and that commit's time as SOURCE_DATE_EPOCH.
        catalogued = load_catalog(DEFAULT_CATALOG).latest(FAMILY)
        rebuild = None
        if catalogued is not None and catalogued.template_digest == inputs.template_digest:
            start = time.monotonic()
            again = build_image(
                FAMILY,
                catalogued.version,
                Path(tmp) / "rebuild" / "catalog.yaml",
                cache_dir=base / "c",
                commit=catalogued.git_commit,
                build_epoch=commit_time(catalogued.git_commit),
                log=lambda _m: None,
            )
            rebuild = (catalogued, again, time.monotonic() - start)
            same = "identical to" if again.sha256 == catalogued.sha256 else "DIFFERENT from"
            print(f"rebuild of catalogued {catalogued.version}: sha256 {again.sha256}, {same} the catalog", flush=True)

    a, b = runs["cold #1"][1], runs["cold #2"][1]
    identical = a.sha256 == b.sha256
    diffs = [] if identical else diff_artifacts(base / "a" / a.file_name, base / "b" / b.file_name)
    if not args.keep:
        shutil.rmtree(base, ignore_errors=True)
    print("reproducible:", "yes, bit-identical" if identical else f"no, {len(diffs)} entries differ")
    for line in diffs:
        print("  " + line)

    tools = tool_versions()
    zstd_version = next((w.rstrip(",") for w in tools["zstd"].split() if w.startswith("v")), "?")
    lines = [
        f"`python bench/bench_images.py`: family `{FAMILY}`, version {VERSION}, suite `{inputs.suite}` from "
        f"`{inputs.mirror}`, zstd level {inputs.zstd_level} (single thread); {tools['packer']}, "
        f"{tools['debootstrap']}, {tools['tar']}, zstd {zstd_version}.",
        "",
        "| build | time | artifact |",
        "| --- | --- | --- |",
    ]
    for name, (seconds, entry) in runs.items():
        lines.append(f"| {name} | {seconds:.2f} s | {entry.size / 1e6:.1f} MB, sha256 `{entry.sha256[:16]}…` |")
    lines += [
        "",
        "Cold = debootstrap + baseline packages + clean + tar/zstd + verification (sha256 against the",
        "Packer manifest, full tar inspection). Cached = the artifact is already in the cache for the",
        "same input digest: sha256 check and catalog append only. The machine is a shared 2-core VM,",
        "so cold times vary with other builds (50-90 s seen); debootstrap and apt downloads dominate.",
        "",
        f"**Reproducibility:** two cold builds from the same inputs (same template digest, commit "
        f"`{commit[:12]}`, SOURCE_DATE_EPOCH {sde}, same mirror state) are "
        + ("**bit-identical**." if identical else f"**not** bit-identical; {len(diffs)} entries differ:"),
    ]
    lines += [f"- `{d}`" for d in diffs[:40]]
    if identical:
        lines += [
            "Nothing left to remove: the template packs with `tar --sort=name --numeric-owner --mtime=@SDE",
            "--clamp-mtime --pax-option=...,delete=atime,delete=ctime`, single-threaded zstd, exports",
            "SOURCE_DATE_EPOCH to debootstrap/dpkg (fixes `/etc/shadow`'s last-change day), and deletes logs,",
            "apt lists and caches, `*-old` and `etc/*-` backups, `ld.so` aux-cache, Python bytecode,",
            "machine-id, host keys, random seed and `/dev`.",
        ]
    if rebuild is not None:
        cat, again, seconds = rebuild
        verdict = "**bit-identical** to" if again.sha256 == cat.sha256 else "**different** from"
        lines += [
            "",
            f"**The catalogued {FAMILY} {cat.version}, rebuilt** from the repository (same template digest, "
            f"its commit `{cat.git_commit[:12]}`, that commit's time as SOURCE_DATE_EPOCH) in {seconds:.1f} s: "
            f"sha256 `{again.sha256[:16]}…`, {verdict} the catalog entry (`{cat.sha256[:16]}…`, built "
            f"{cat.built_at}). The base came from the same archive state "
            + ("(same InRelease digest)." if again.sources == cat.sources else "? no: the InRelease digest moved."),
        ]
    body = "\n".join(lines)
    if not args.no_write:
        write_section("Images", body)
        print("updated docs/benchmarks.md (## Images)")
    reproduced = rebuild is None or rebuild[1].sha256 == rebuild[0].sha256
    return 0 if identical and reproduced else 1


if __name__ == "__main__":
    raise SystemExit(main())
