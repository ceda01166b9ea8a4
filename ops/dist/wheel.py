"""The installable wheel, its dependencies as a local wheelhouse, and a clean virtualenv to install it in.

The wheel is built by the pinned backend (hatchling, ``pyproject.toml``) through the pinned
frontend (``build``) from this venv, without build isolation, so building needs no network. Its
pinned dependencies are downloaded once into a wheelhouse under the cache, keyed by the pins, so
installing into a fresh virtualenv runs offline (``--no-index --find-links``), as a team's CI
installing from its own index would.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

from fabric.paths import PROJECT_ROOT, cache_root


def build_wheel(out_dir: Path) -> Path:
    """Build the wheel from the checkout into ``out_dir``; return its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    before = set(out_dir.glob("*.whl"))
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out_dir), str(PROJECT_ROOT)],
        check=True,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
    )
    made = sorted(set(out_dir.glob("*.whl")) - before) or sorted(out_dir.glob("samakia_fabric-*.whl"))
    if not made:
        raise RuntimeError(f"the build left no wheel in {out_dir}")
    return made[-1]


def requirements(wheel: Path) -> list[str]:
    """The wheel's ``Requires-Dist`` lines (its pinned runtime dependencies)."""
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(zf.read(name).decode())
    return sorted(metadata.get_all("Requires-Dist") or [])


def wheelhouse(wheel: Path) -> Path:
    """Every dependency of ``wheel`` as a wheel, downloaded once per set of pins (under a lock).

    The first call per pin set reaches the package index through pip (its HTTP cache helps);
    every later one finds the directory complete and returns at once.
    """
    pins = requirements(wheel)
    key = hashlib.sha256("\n".join(pins).encode()).hexdigest()[:16]
    house = cache_root() / "wheelhouse" / key
    done = house / ".complete"
    if done.exists():
        return house
    house.mkdir(parents=True, exist_ok=True)
    with open(house.parent / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "-q",
                    "--disable-pip-version-check",
                    "--only-binary=:all:",
                    "-d",
                    str(house),
                    *pins,
                ],
                check=True,
                stdin=subprocess.DEVNULL,
            )
            done.write_text("\n".join(pins) + "\n")
    return house


def clean_env() -> dict[str, str]:
    """The caller's environment without anything that would let the checkout leak into a venv."""
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def install_clean(
    wheel: Path, venv: Path, requirements_file: Path | None = None, *, compile_bytecode: bool = False
) -> Path:
    """A new virtualenv at ``venv`` holding ``wheel`` and its dependencies only; returns its python.

    Installed offline from the wheelhouse, from a working directory outside the checkout, with
    no ``PYTHONPATH``: nothing of the repository is importable there but what the wheel ships.
    With ``requirements_file`` (a program's own, pinning ``samakia-fabric==<version>``) pip
    resolves that file instead, finding the package in the wheel's directory, as a team would.
    ``compile_bytecode`` is pip's default (byte-compile every module at install); off, the
    install is about twice as fast (bench/bench_wheel.py) and Python compiles what it imports.
    """
    house = wheelhouse(wheel)
    # The base interpreter, not this venv's: a fresh venv inherits nothing from the project's.
    base = getattr(sys, "_base_executable", sys.executable)
    env = clean_env()
    subprocess.run([base, "-m", "venv", str(venv)], check=True, stdin=subprocess.DEVNULL, cwd=venv.parent, env=env)
    python = venv / "bin" / "python"
    subprocess.run(
        # No byte-compiling by default: the ansible package alone is 21,000 files.
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-q",
            *([] if compile_bytecode else ["--no-compile"]),
            "--no-index",
            "--find-links",
            str(house),
            "--find-links",
            str(wheel.parent),
            *(["-r", str(requirements_file)] if requirements_file else [str(wheel)]),
        ],
        check=True,
        stdin=subprocess.DEVNULL,
        cwd=venv.parent,
        env=env,
    )
    return python
