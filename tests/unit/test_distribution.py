"""The distribution's promises that need no build: one version everywhere, the same pins in the
wheel as in the repository's venv, and the public args/outputs surface under a snapshot, so a
change to it cannot land without the version bump and changelog entry semver asks for.

Regenerate the snapshot after such a change with ``SAMAKIA_UPDATE_SURFACE=1 pytest
tests/unit/test_distribution.py``: it refuses unless the version moved accordingly (a removed or
changed name: a new major version whose CHANGELOG.md section says BREAKING; only additions: a new
version with a section of its own).
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

import fabric
from fabric.catalog import version_key

ROOT = Path(__file__).resolve().parents[2]
SNAPSHOT = Path(__file__).parent / "fixtures" / "public_surface.json"
ARGS = (fabric.ImageArgs, fabric.LxcContainerArgs, fabric.ConfigPolicyArgs, fabric.PolicyTarget)
COMPONENTS = (fabric.Image, fabric.LxcContainer, fabric.ConfigPolicy, fabric.Fleet)


def pins(path: Path) -> dict[str, str]:
    """``name -> version`` of the ``name==version`` lines of a requirements file (extras dropped)."""
    found = {}
    for line in path.read_text().splitlines():
        if match := re.match(r"^([A-Za-z0-9_.-]+)(\[[^\]]*\])?==([^\s#]+)", line.strip()):
            found[match[1].lower()] = match[3]
    return found


def surface() -> dict[str, Any]:
    """Each args class's fields (type, required) and each component's constructor and outputs."""
    out: dict[str, Any] = {"exports": sorted(fabric.__all__)}
    for cls in ARGS:
        out[cls.__name__] = {
            f.name: {
                "type": str(f.type),
                "required": f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING,
            }
            for f in dataclasses.fields(cls)
        }
    for component in COMPONENTS:
        outputs = {
            name: str(kind)
            for name, kind in inspect.get_annotations(component).items()
            if str(kind).startswith("pulumi.Output")
        }
        out[component.__name__] = {"init": str(inspect.signature(component.__init__)), "outputs": outputs}
    return out


def changelog_sections() -> dict[str, str]:
    """``version -> text`` of each ``## x.y.z`` section of CHANGELOG.md."""
    text = (ROOT / "CHANGELOG.md").read_text()
    parts = re.split(r"^## (\d+\.\d+\.\d+)\b.*$", text, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_one_version_for_the_package_the_collection_and_the_changelog() -> None:
    galaxy = yaml.safe_load((ROOT / "playbooks/collections/ansible_collections/samakia/fabric/galaxy.yml").read_text())
    assert re.fullmatch(r"\d+\.\d+\.\d+", fabric.__version__)
    assert str(galaxy["version"]) == fabric.__version__
    sections = changelog_sections()
    assert next(iter(sections)) == fabric.__version__, "CHANGELOG.md's newest section is the current version"
    versions = list(sections)
    assert versions == sorted(versions, key=version_key, reverse=True), versions


def test_the_wheel_pins_what_the_repository_runs() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    wheel = {re.split(r"[\[=]", d)[0].lower(): d.split("==")[1] for d in declared}
    repo = pins(ROOT / "requirements.txt") | pins(ROOT / "requirements-dev.txt")
    # The collections the roles need come from the `ansible` package; the repository unpacks the
    # same version (scripts/collections.sh).
    collections = re.search(r'^ANSIBLE_WHEEL_VERSION="([^"]+)"', (ROOT / "scripts/collections.sh").read_text(), re.M)
    assert collections is not None
    repo["ansible"] = collections[1]
    assert {name: repo.get(name) for name in wheel} == wheel
    # Every runtime pin of the program is in the wheel.
    assert set(pins(ROOT / "requirements.txt")) <= set(wheel)
    build = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    assert build == [f"hatchling=={repo['hatchling']}"]


def test_the_public_surface_matches_its_snapshot() -> None:
    now = surface()
    snap = json.loads(SNAPSHOT.read_text()) if SNAPSHOT.exists() else {"version": "0.0.0", "surface": {}}
    if os.environ.get("SAMAKIA_UPDATE_SURFACE") == "1" and now != snap["surface"]:
        problem = bump_problem(snap, now)
        assert problem is None, problem
        SNAPSHOT.write_text(
            json.dumps({"version": fabric.__version__, "surface": now}, indent=1, sort_keys=True) + "\n"
        )
    snap = json.loads(SNAPSHOT.read_text())
    assert now == snap["surface"], (
        "the public args/outputs surface changed since the snapshot: a removed or changed field, output or "
        "constructor is a breaking change (new major version in fabric/__init__.py and galaxy.yml, a CHANGELOG.md "
        "section saying BREAKING); then regenerate with SAMAKIA_UPDATE_SURFACE=1 (see this file's docstring)"
    )


def removed_or_changed(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Paths present in ``old`` that ``new`` dropped or changed (additions are not listed); a field
    whose type or requiredness changed is listed, as it breaks callers."""
    found = []
    for key, value in old.items():
        if key not in new:
            found.append(key)
        elif isinstance(value, dict) and isinstance(new[key], dict):
            found += [f"{key}.{sub}" for sub in removed_or_changed(value, new[key])]
        elif isinstance(value, list) and isinstance(new[key], list):
            found += [f"{key}.{item}" for item in value if item not in new[key]]
        elif value != new[key]:
            found.append(key)
    return found


def bump_problem(snap: dict[str, Any], now: dict[str, Any]) -> str | None:
    """Why the current version and changelog do not cover the surface change, or None when they do."""
    old_version, new_version = snap["version"], fabric.__version__
    section = changelog_sections().get(new_version, "")
    breaking = removed_or_changed(snap["surface"], now)
    if version_key(new_version) <= version_key(old_version):
        return f"the surface changed but the version did not move past {old_version}"
    if breaking and snap["surface"] and version_key(new_version)[0] <= version_key(old_version)[0]:
        return f"breaking changes ({', '.join(breaking)}) need a new major version, not {new_version}"
    if breaking and snap["surface"] and "BREAKING" not in section:
        return f"CHANGELOG.md's {new_version} section must say BREAKING and name: {', '.join(breaking)}"
    if not section.strip():
        return f"CHANGELOG.md has no section for {new_version}"
    return None


def test_the_bump_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    old = {"LxcContainerArgs": {"vmid": {"type": "int", "required": True}}}
    added = {"LxcContainerArgs": {"vmid": {"type": "int", "required": True}, "x": {"type": "int", "required": False}}}
    dropped: dict[str, Any] = {"LxcContainerArgs": {}}
    assert removed_or_changed(old, added) == []
    assert removed_or_changed(old, dropped) == ["LxcContainerArgs.vmid"]
    monkeypatch.setattr(fabric, "__version__", "1.1.0")
    monkeypatch.setattr(
        "tests.unit.test_distribution.changelog_sections", lambda: {"1.1.0": "- added x", "2.0.0": "- BREAKING: x"}
    )
    assert bump_problem({"version": "1.0.0", "surface": old}, added) is None
    assert "need a new major version" in str(bump_problem({"version": "1.0.0", "surface": old}, dropped))
    monkeypatch.setattr(fabric, "__version__", "2.0.0")
    assert bump_problem({"version": "1.0.0", "surface": old}, dropped) is None
    monkeypatch.setattr(fabric, "__version__", "1.0.0")
    assert "did not move" in str(bump_problem({"version": "1.0.0", "surface": old}, added))
