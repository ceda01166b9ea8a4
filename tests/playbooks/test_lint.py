"""Static checks of the playbooks are part of the tier: yamllint, ansible-lint, syntax-check."""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_lint_playbooks_clean() -> None:
    proc = subprocess.run(
        [str(REPO / "scripts/lint-playbooks.sh")], cwd=REPO, capture_output=True, text=True, timeout=600, check=False
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    for step in ("yamllint", "ansible-lint (production profile, offline)", "--syntax-check", "playbooks clean"):
        assert step in out


def test_lint_catches_a_violation(tmp_path: Path) -> None:
    """The production profile really runs: a bare command without FQCN or changed_when fails."""
    role = REPO / "playbooks/roles"
    probe = tmp_path / "probe"
    (probe / "roles/probe/tasks").mkdir(parents=True)
    (probe / "roles/probe/tasks/main.yml").write_text("---\n- name: Bad task\n  command: ls\n")
    (probe / "site.yml").write_text("---\n- name: Probe\n  hosts: all\n  roles:\n    - role: probe\n")
    assert role.is_dir()
    proc = subprocess.run(
        [
            str(REPO / ".venv/bin/ansible-lint"),
            "--offline",
            "-c",
            str(REPO / ".ansible-lint"),
            "--project-dir",
            str(probe),
            "--nocolor",
            str(probe),
        ],
        cwd=probe,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert "fqcn[action-core]" in out and "no-changed-when" in out
