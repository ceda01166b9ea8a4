"""Config policy triggers: a used playbook, role or vars file re-runs it; anything else does not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fabric import ConfigPolicy, ConfigPolicyArgs, PolicyTarget
from fabric.playbook_digest import policy_digest, policy_files
from fabric.testing import COMMAND, run_program

from .conftest import write_tree


@pytest.fixture
def playbooks(tmp_path: Path) -> Path:
    root = tmp_path / "playbooks"
    files = {
        "site.yml": "- hosts: all\n  roles:\n    - bootstrap\n    - role: hardening\n",
        "other.yml": "- hosts: all\n  roles: [unused]\n",
        "roles/bootstrap/tasks/main.yml": "- ansible.builtin.debug: {msg: hi}\n",
        "roles/bootstrap/meta/main.yml": "dependencies: [common]\n",
        "roles/common/defaults/main.yml": "common_x: 1\n",
        "roles/hardening/tasks/main.yml": "- ansible.builtin.include_role: {name: sysctl}\n",
        "roles/sysctl/defaults/main.yml": "sysctl_x: 1\n",
        "roles/unused/tasks/main.yml": "- ansible.builtin.debug: {msg: unused}\n",
        "vars/db.yml": "db_port: 5432\n",
        "vars/web.yml": "web_port: 443\n",
    }
    return write_tree(root, files)


def digest(playbooks: Path, extra: str = "") -> str:
    return policy_digest(playbooks, "site.yml", ["vars/db.yml"], extra)


def test_policy_files_are_exactly_what_the_run_reads(playbooks: Path) -> None:
    names = {str(p.relative_to(playbooks)) for p in policy_files(playbooks, "site.yml", ["vars/db.yml"])}
    assert names == {
        "site.yml",
        "roles/bootstrap/tasks/main.yml",
        "roles/bootstrap/meta/main.yml",
        "roles/common/defaults/main.yml",
        "roles/hardening/tasks/main.yml",
        "roles/sysctl/defaults/main.yml",
        "vars/db.yml",
    }


@pytest.mark.parametrize(
    "rel",
    [
        "site.yml",
        "roles/bootstrap/tasks/main.yml",
        "roles/common/defaults/main.yml",
        "roles/sysctl/defaults/main.yml",
        "vars/db.yml",
    ],
)
def test_changing_a_used_file_changes_the_digest(playbooks: Path, rel: str) -> None:
    before = digest(playbooks)
    (playbooks / rel).write_text((playbooks / rel).read_text() + "# changed\n")
    assert digest(playbooks) != before


@pytest.mark.parametrize("rel", ["other.yml", "roles/unused/tasks/main.yml", "vars/web.yml", "README.md"])
def test_changing_an_unrelated_file_keeps_the_digest(playbooks: Path, rel: str) -> None:
    before = digest(playbooks)
    (playbooks / rel).write_text("# something else entirely\n")
    assert digest(playbooks) == before


def test_a_new_file_in_a_used_role_changes_the_digest(playbooks: Path) -> None:
    before = digest(playbooks)
    (playbooks / "roles/bootstrap/templates").mkdir()
    (playbooks / "roles/bootstrap/templates/motd.j2").write_text("hello\n")
    assert digest(playbooks) != before


def test_variables_are_part_of_the_digest(playbooks: Path) -> None:
    assert digest(playbooks, extra='{"a": 1}') != digest(playbooks, extra='{"a": 2}')


def _policy_triggers(
    playbooks: Path, variables: dict[str, object], image: str = "debian12-base@1.0.0#sha256:aa"
) -> list[str]:
    def program() -> None:
        import pulumi

        container = pulumi.CustomResource("test:index:Container", "ct", {})
        ConfigPolicy(
            "ct-config",
            ConfigPolicyArgs(
                container=container,
                container_id="101",
                image_identity=image,
                target=PolicyTarget(type="ssh", host="10.0.0.5", key_env="SAMAKIA_SSH_KEY_FILE"),
                vars_files=["vars/db.yml"],
                variables=variables,
                playbooks_dir=playbooks,
            ),
        )

    rec = run_program(program)
    (cmd,) = rec.of_type(COMMAND)
    request = json.loads(cmd.inputs["stdin"])
    assert request["target"] == {
        "type": "ssh",
        "host": "10.0.0.5",
        "user": "root",
        "key_env": "SAMAKIA_SSH_KEY_FILE",
        "instance": "",  # the container's instance (unset here) pins its host key
    }
    return list(cmd.inputs["triggers"])


def test_policy_component_triggers_follow_files_variables_and_image(playbooks: Path) -> None:
    base = _policy_triggers(playbooks, {"fabric_hostname": "db-1"})
    assert base[0] == "101"
    assert _policy_triggers(playbooks, {"fabric_hostname": "db-1"}) == base
    assert _policy_triggers(playbooks, {"fabric_hostname": "db-2"})[2] != base[2]
    assert _policy_triggers(playbooks, {"fabric_hostname": "db-1"}, image="debian12-base@1.1.0#sha256:bb")[1] != base[1]
    (playbooks / "vars/web.yml").write_text("web_port: 8443\n")
    assert _policy_triggers(playbooks, {"fabric_hostname": "db-1"}) == base
    (playbooks / "roles/sysctl/defaults/main.yml").write_text("sysctl_x: 2\n")
    assert _policy_triggers(playbooks, {"fabric_hostname": "db-1"})[2] != base[2]
