"""The docs name only what exists: modules run with ``python -m``, make targets, repository paths;
and no tracked file carries a path of the machine it was written on."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("fabric", "ops", "providers", "bench", "tests")
TOP_DIRS = (*PACKAGES, "docs", "scripts", "images", "playbooks", "examples", ".github")


def tracked() -> list[Path]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [ROOT / line for line in out.splitlines() if (ROOT / line).is_file()]


def docs() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def operator_texts() -> dict[str, str]:
    files = [*docs(), ROOT / "Makefile", *(ROOT / ".github/workflows").glob("*.yml"), *(ROOT / "scripts").glob("*.sh")]
    return {str(p.relative_to(ROOT)): p.read_text() for p in files}


def module_exists(name: str) -> bool:
    path = ROOT / name.replace(".", "/")
    return path.with_suffix(".py").is_file() or (path / "__main__.py").is_file()


def test_every_python_m_names_a_module_of_the_repository() -> None:
    missing = []
    for where, text in operator_texts().items():
        for name in re.findall(r"python3? -m ([\w.]+)", text):
            if name.split(".")[0] in PACKAGES and not module_exists(name):
                missing.append(f"{where}: python -m {name}")
    assert missing == []


def test_every_make_target_named_exists() -> None:
    targets = set(re.findall(r"^([a-z][\w-]*):", (ROOT / "Makefile").read_text(), re.M))
    named = {
        (where, t)
        for where, text in operator_texts().items()
        if where != "Makefile"
        for cmd in re.findall(r"`make ([^`]+)`|^\s+(?:run: )?make ([a-z][^\n]*)", text, re.M)
        for t in (cmd[0] or cmd[1]).split()
        if re.fullmatch(r"[a-z][\w-]*", t)
    }
    assert sorted(f"{w}: make {t}" for w, t in named if t not in targets) == []


def test_every_repository_path_in_the_docs_exists() -> None:
    missing = []
    for doc in docs():
        for ref in re.findall(r"`([^`\s]+)`", doc.read_text()):
            path = ref.rstrip(".,:")
            if not path.startswith(tuple(d + "/" for d in TOP_DIRS)) or re.search(r"[<>*{}\[\]|$]|\.\.\.", path):
                continue
            if not (ROOT / path).exists():
                missing.append(f"{doc.name}: {path}")
    assert missing == []


def test_no_machine_paths_in_tracked_files() -> None:
    # Paths of a build machine (its checkout, home, scratch space); paths inside a container
    # root or an image (root/.ssh, /home/<admin>, /tmp in a chroot) are the product's own.
    pattern = re.compile(r"/work/|/root/\.(?:cache|pyenv|local)|/tmp/(?:spike|standin|bash_jobs|engine\.log)")
    found = []
    for path in tracked():
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        rel = path.relative_to(ROOT)
        found += [f"{rel}:{n}" for n, line in enumerate(text.splitlines(), 1) if pattern.search(line)]
    # This test's own pattern is the one permitted mention.
    assert [f for f in found if not f.startswith("tests/unit/test_docs.py:")] == []
