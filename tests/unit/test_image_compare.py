"""The reproducibility check CI runs on an image change (``make image-compare``), on small templates."""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

import pytest

from ops.images.compare import main

ROOT_FILES = {"./etc/hostname": b"localhost\n", "./etc/samakia-image": b"FAMILY=tiny\nVERSION=1.0.0\n"}


def template(path: Path, files: dict[str, bytes], mtime: int = 1_700_000_000, level: int = 12) -> Path:
    """A tiny vztmpl-shaped .tar.zst: sorted ./ entries, numeric owners, fixed mtimes."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in ["./", "./etc", *sorted(files)]:
            info = tarfile.TarInfo(name)
            info.mtime = mtime
            if name in files:
                info.size = len(files[name])
                tar.addfile(info, io.BytesIO(files[name]))
            else:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
    subprocess.run(["zstd", "-q", f"-{level}", "-o", str(path)], input=raw.getvalue(), check=True)
    return path


def test_two_identical_builds_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = template(tmp_path / "a.tar.zst", ROOT_FILES)
    b = template(tmp_path / "b.tar.zst", ROOT_FILES)
    assert main([str(a), str(b)]) == 0
    assert "bit-identical" in capsys.readouterr().out


def test_a_difference_is_named_entry_and_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = template(tmp_path / "a.tar.zst", ROOT_FILES)
    changed = ROOT_FILES | {"./etc/hostname": b"builder-7\n", "./var-leak": b"x"}
    b = template(tmp_path / "b.tar.zst", changed)
    assert main([str(a), str(b)]) == 1
    out = capsys.readouterr().out
    assert "NOT identical" in out
    assert "./etc/hostname: sha256:" in out
    assert "only in b.tar.zst#2: ./var-leak" in out
    assert "./etc/samakia-image" not in out  # unchanged entries are not listed


def test_a_wall_clock_mtime_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = template(tmp_path / "a.tar.zst", ROOT_FILES)
    b = template(tmp_path / "b.tar.zst", ROOT_FILES, mtime=1_700_000_099)
    assert main([str(a), str(b)]) == 1
    assert "mtime: 1700000000.0 != 1700000099.0" in capsys.readouterr().out


def test_equal_trees_differently_compressed_say_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = template(tmp_path / "a.tar.zst", ROOT_FILES, level=1)
    b = template(tmp_path / "b.tar.zst", ROOT_FILES, level=19)
    assert main([str(a), str(b)]) == 1
    assert "only the compression or the tar framing" in capsys.readouterr().out


def test_a_missing_or_corrupt_input_is_unusable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = template(tmp_path / "a.tar.zst", ROOT_FILES)
    assert main([str(a), str(tmp_path / "nope.tar.zst")]) == 2
    assert "nope.tar.zst: no such file" in capsys.readouterr().err
    corrupt = tmp_path / "corrupt.tar.zst"
    corrupt.write_bytes(a.read_bytes()[:20])
    assert main([str(a), str(corrupt)]) == 2
