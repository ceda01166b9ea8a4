"""The project's own modules (samakia.fabric), run the way Ansible runs them, on scratch paths.

Each module is executed as a program with its arguments file, exactly as Ansible's module
runner would, so check mode, diff mode and failures are the module's own behaviour.
"""

from __future__ import annotations

import importlib.util
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

from fabric.paths import PLAYBOOKS_DIR
from fabric.runtime.ansible_run import ansible_env, ansible_playbook_bin

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
    assert facts["ssh_moduli_sizes"] == sorted(set(facts["ssh_moduli_sizes"]))
    assert all(set(account) == {"name", "uid"} for account in facts["password_accounts"])


def target_facts_functions() -> Any:
    """The module's file as a Python module (its parsing functions, called on scratch files)."""
    spec = importlib.util.spec_from_file_location("target_facts", MODULES / "target_facts.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_target_facts_lists_accounts_with_a_hash_or_an_empty_password(tmp_path: Path) -> None:
    passwd, shadow = tmp_path / "passwd", tmp_path / "shadow"
    passwd.write_text(
        "root:x:0:0::/root:/bin/bash\ndaemon:x:1:1::/:/usr/sbin/nologin\n"
        "games:x:5:60::/:/usr/sbin/nologin\nold:x:7:7::/:/bin/sh\nadmin:x:1000:1000::/home/admin:/bin/bash\n"
    )
    shadow.write_text(
        "root:!$y$j9T$abc:19000::::::\ndaemon:*:19000::::::\ngames::19000::::::\n"
        "old:$6$salt$hash:19000::::::\nadmin:!:19000::::::\nghost:$6$x$y:19000::::::\n"
    )
    accounts = target_facts_functions().password_accounts(str(passwd), str(shadow))
    # Locked (! or *) accounts are left out, and so is a shadow line without a passwd entry.
    assert accounts == [{"name": "games", "uid": 5}, {"name": "old", "uid": 7}]


def test_target_facts_reads_the_moduli_sizes(tmp_path: Path) -> None:
    moduli = tmp_path / "moduli"
    moduli.write_text(
        "# Time Type Tests Tries Size Generator Modulus\n"
        "20230101 2 6 100 2047 5 C0FF\n20230101 2 6 100 2047 2 C0FE\n20230101 2 6 100 3071 2 D0FF\n"
    )
    assert target_facts_functions().moduli_sizes(str(moduli)) == [2047, 3071]
    assert target_facts_functions().moduli_sizes(str(tmp_path / "absent")) == []


def test_target_facts_refuses_a_chroot_that_could_start_daemons() -> None:
    refusal = target_facts_functions().chroot_refusal
    assert "policy-rc.d" in refusal(chroot=True, policy_rc_d=False)
    assert refusal(chroot=True, policy_rc_d=True) == ""
    assert refusal(chroot=False, policy_rc_d=False) == ""


def test_target_facts_refuses_an_unknown_sysctl_scope(tmp_path: Path) -> None:
    result = run_module("target_facts", tmp_path, {"sysctl_scope": "kernel"})
    assert result.get("failed") is True
    assert "sysctl_scope" in result["msg"] and "kernel" in result["msg"]


def test_template_lookup_renders_as_the_builtin_one(tmp_path: Path) -> None:
    """samakia.fabric.template (no deep copy of the variables) renders what ansible.builtin.template renders."""
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates/app.conf.j2").write_text(
        "name = {{ app_name }}\n{% for port in app_ports %}port = {{ port }}\n{% endfor %}"
        "file = {{ template_path | basename }}\nextra = {{ extra | default('none') }}\n"
    )
    play = tmp_path / "play.yml"
    play.write_text(
        """- name: Render both ways
  hosts: localhost
  gather_facts: false
  vars:
    app_name: "{{ 'fab' ~ 'ric' }}"
    app_ports: [53, 853]
  tasks:
    - name: Compare
      ansible.builtin.assert:
        that:
          - ours == theirs
          - ours_with_vars == theirs_with_vars
          - "'extra = given' in ours_with_vars"
          - "'port = 853' in ours"
      vars:
        ours: "{{ lookup('samakia.fabric.template', 'app.conf.j2') }}"
        theirs: "{{ lookup('ansible.builtin.template', 'app.conf.j2') }}"
        ours_with_vars: "{{ lookup('samakia.fabric.template', 'app.conf.j2', template_vars={'extra': 'given'}) }}"
        theirs_with_vars: "{{ lookup('ansible.builtin.template', 'app.conf.j2', template_vars={'extra': 'given'}) }}"
"""
    )
    proc = subprocess.run(
        [ansible_playbook_bin(), "-i", "localhost,", "-c", "local", str(play)],
        env=ansible_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert '"failed": true' not in proc.stdout
