"""The pipeline tier: the checks CI runs on every pull request, proven on scratch repositories."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def tools_bin() -> Path:
    """The pinned gitleaks and actionlint (scripts/tools.sh builds them once, cached by version)."""
    out = subprocess.run([str(ROOT / "scripts" / "tools.sh")], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        pytest.fail(f"scripts/tools.sh failed: {out.stderr[-2000:]}")
    return Path(out.stdout.strip())
