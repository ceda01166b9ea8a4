"""The Packer templates themselves: formatted, valid, and the validation really rejects bad input."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from ops.images.inputs import IMAGES_DIR, template_digest, template_files

FAMILIES = sorted(p.name for p in IMAGES_DIR.iterdir() if any(p.glob("*.pkr.hcl")))
REQUIRED_VARS = {
    "version": "1.0.0",
    "output_dir": "/nonexistent/out",
    "work_dir": "/nonexistent/work",
    "source_date_epoch": "0",
    "template_digest": "sha256:" + "0" * 64,
}


def packer(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["packer", *args],
        check=False,
        capture_output=True,
        text=True,
        cwd=cwd,
        env={"CHECKPOINT_DISABLE": "1", "PATH": "/usr/bin:/bin"},
    )


def var_args(**override: str) -> list[str]:
    out = []
    for key, value in {**REQUIRED_VARS, **override}.items():
        out += ["-var", f"{key}={value}"]
    return out


def test_there_is_a_family() -> None:
    assert "debian12-base" in FAMILIES


@pytest.mark.parametrize("family", FAMILIES)
def test_packer_fmt_check(family: str) -> None:
    r = packer("fmt", "-check", str(IMAGES_DIR / family))
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("family", FAMILIES)
def test_packer_validate(family: str) -> None:
    r = packer("validate", *var_args(), str(IMAGES_DIR / family))
    assert r.returncode == 0, r.stdout + r.stderr


def test_fmt_check_detects_misformatting(tmp_path: Path) -> None:
    copy = tmp_path / "t"
    shutil.copytree(IMAGES_DIR / "debian12-base", copy)
    hcl = copy / "debian12-base.pkr.hcl"
    hcl.write_text(hcl.read_text().replace('  communicator = "none"', 'communicator="none"'))
    assert packer("fmt", "-check", str(copy)).returncode == 3


@pytest.mark.parametrize(
    ("var", "value", "message"),
    [
        ("version", "1.0", "semantic"),
        ("version", "1.0.x", "semantic"),
        ("version", "v1.0.0", "semantic"),
        ("suite", "trixie", "bookworm"),
        ("mirror", "ftp://example.org/debian", "mirror"),
        ("snapshot", "2025-11-01", "snapshot"),
        ("source_date_epoch", "yesterday", "integer"),
    ],
)
def test_validate_rejects_bad_variables(var: str, value: str, message: str) -> None:
    r = packer("validate", *var_args(**{var: value}), str(IMAGES_DIR / "debian12-base"))
    assert r.returncode != 0
    assert message in (r.stdout + r.stderr)


def test_template_digest_covers_scripts_but_not_docs(tmp_path: Path) -> None:
    images = tmp_path / "images"
    shutil.copytree(IMAGES_DIR / "debian12-base", images / "debian12-base")
    before = template_digest("debian12-base", images)
    (images / "debian12-base" / "NOTES.md").write_text("documentation is not build input\n")
    assert template_digest("debian12-base", images) == before
    script = images / "debian12-base" / "scripts" / "30-clean.sh"
    script.write_text(script.read_text() + "\n# a change\n")
    assert template_digest("debian12-base", images) != before
    names = [p.name for p in template_files("debian12-base", images)]
    assert "packages.txt" in names and "debian12-base.pkr.hcl" in names and "NOTES.md" not in names
