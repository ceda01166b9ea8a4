"""Fixtures shared by tiers: the wheel built from this checkout, installed into a clean virtualenv.

Built and installed once per session (the package tier and the engine tier's outside program
both use it), in a directory outside the checkout.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from ops.dist.wheel import build_wheel, install_clean

OUTSIDE_REQUIREMENTS = Path(__file__).resolve().parents[1] / "examples" / "outside" / "requirements.txt"


@dataclass(frozen=True)
class InstalledWheel:
    """The built wheel and the clean virtualenv it was installed in."""

    wheel: Path
    venv: Path

    @property
    def python(self) -> Path:
        """The virtualenv's interpreter."""
        return self.venv / "bin" / "python"


@pytest.fixture(scope="session")
def installed_wheel(tmp_path_factory: pytest.TempPathFactory) -> InstalledWheel:
    """``samakia-fabric`` built from the checkout and installed offline into a fresh virtualenv."""
    base = tmp_path_factory.mktemp("wheel")
    wheel = build_wheel(base / "dist")
    # Through the outside example's own requirements file: its pin must resolve to this wheel.
    install_clean(wheel, base / "venv", requirements_file=OUTSIDE_REQUIREMENTS)
    return InstalledWheel(wheel=wheel, venv=base / "venv")
