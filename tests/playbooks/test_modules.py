"""The project's own modules (samakia.fabric), run the way Ansible runs them, on scratch paths.

Each module is executed as a program with its arguments file, exactly as Ansible's module
runner would, so check mode, diff mode and failures are the module's own behaviour.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

from fabric.paths import PLAYBOOKS_DIR

MODULES = PLAYBOOKS_DIR / "collections/ansible_collections/samakia/fabric/plugins/modules"


def run_module(
    name: str, tmp: Path, args: dict[str, Any], *, check: bool = False, diff: bool = False
) -> dict[str, Any]:
    """Run ``samakia.fabric.<name>`` with ``args``; return its JSON result."""
    args_file = tmp / f"{name}-args.json"
    module_args = dict(args, _ansible_check_mode=check, _ansible_diff=diff, _ansible_tmpdir=str(tmp))
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": module_args}))
    proc = subprocess.run(
        [sys.executable, str(MODULES / f"{name}.py"), str(args_file)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def mode(path: Path) -> str:
    return f"{stat.S_IMODE(path.stat().st_mode):04o}"


def test_files_converges_then_reports_nothing(tmp_path: Path) -> None:
    conf_dir, conf = tmp_path / "etc/app.d", tmp_path / "etc/app.d/10-app.conf"
    entries = [
        {"path": str(conf_dir), "state": "directory", "mode": "0750"},
        {"path": str(conf), "content": "a = 1\n", "mode": "0640"},
    ]
    first = run_module("files", tmp_path, {"files": entries})
    assert first["changed"] is True
    assert first["changed_paths"] == [str(conf_dir), str(conf)]
    assert conf.read_text() == "a = 1\n"
    assert (mode(conf_dir), mode(conf)) == ("0750", "0640")
    second = run_module("files", tmp_path, {"files": entries})
    assert second["changed"] is False and second["changed_paths"] == []


def test_files_check_mode_reports_and_changes_nothing(tmp_path: Path) -> None:
    conf = tmp_path / "app.conf"
    conf.write_text("a = 2\n")
    os.chmod(conf, 0o644)
    entry = {"path": str(conf), "content": "a = 1\n", "mode": "0600"}
    result = run_module("files", tmp_path, {"files": [entry]}, check=True, diff=True)
    assert result["changed"] is True and result["changed_paths"] == [str(conf)]
    assert result["diff"][0]["before"] == "a = 2\n" and result["diff"][0]["after"] == "a = 1\n"
    assert conf.read_text() == "a = 2\n" and mode(conf) == "0644"
    # A mode-only difference is drift too.
    conf.write_text("a = 1\n")
    result = run_module("files", tmp_path, {"files": [entry]}, check=True, diff=True)
    assert result["changed_paths"] == [str(conf)]
    assert result["diff"][0]["after"] == {"mode": "0600"}
    assert mode(conf) == "0644"


def test_files_validation_failure_keeps_the_old_file(tmp_path: Path) -> None:
    conf = tmp_path / "app.conf"
    conf.write_text("good\n")
    entry = {"path": str(conf), "content": "bad\n", "validate": "grep -q good %s"}
    result = run_module("files", tmp_path, {"files": [entry]})
    assert result.get("failed") is True
    assert "validation failed" in result["msg"]
    assert conf.read_text() == "good\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".samakia-")] == []


def test_files_attributes_only_and_if_exists(tmp_path: Path) -> None:
    present = tmp_path / "present"
    present.write_text("keep\n")
    os.chmod(present, 0o644)
    entries = [
        {"path": str(present), "mode": "0600"},
        {"path": str(tmp_path / "absent"), "mode": "0600", "if_exists": True},
        {"path": str(tmp_path / "absent.d"), "state": "directory", "mode": "0700", "if_exists": True},
    ]
    result = run_module("files", tmp_path, {"files": entries})
    assert result["changed_paths"] == [str(present)]
    assert present.read_text() == "keep\n" and mode(present) == "0600"
    assert not (tmp_path / "absent").exists() and not (tmp_path / "absent.d").exists()
    missing = run_module("files", tmp_path, {"files": [{"path": str(tmp_path / "absent"), "mode": "0600"}]})
    assert missing.get("failed") is True and "does not exist" in missing["msg"]


def test_target_facts_reads_dpkg_and_the_release(tmp_path: Path) -> None:
    facts = run_module("target_facts", tmp_path, {})["ansible_facts"]["samakia_target"]
    assert facts["distribution_release"] == "bookworm"
    assert {"dpkg", "openssh-client"} <= set(facts["packages"])
    assert isinstance(facts["chroot"], bool) and isinstance(facts["booted"], bool)
