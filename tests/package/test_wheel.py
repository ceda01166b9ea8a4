"""The wheel: built from the checkout, installed offline into a clean virtualenv outside the
repository, and usable there: the components, the shipped policy and catalog, the typed surface
and the policy runner, with nothing of the checkout on the path."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import fabric
from fabric.catalog import load_catalog
from fabric.paths import CATALOG_FILE, PLAYBOOKS_DIR
from fabric.playbook_digest import files_digest
from ops.dist.wheel import clean_env, requirements
from tests.conftest import InstalledWheel

ROOT = Path(__file__).resolve().parents[2]


def run(
    cmd: list[str], cwd: Path, *, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``cmd`` from ``cwd`` (outside the checkout), with no PYTHONPATH and no inherited stdin."""
    return subprocess.run(
        cmd,
        cwd=cwd,
        env={**clean_env(), **(env or {})},
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def run_in(
    venv: InstalledWheel, cwd: Path, *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The venv's python with ``args``."""
    return run([str(venv.python), *args], cwd, stdin=stdin, env=env)


def test_the_wheel_ships_the_package_its_data_and_its_pins(installed_wheel: InstalledWheel) -> None:
    with zipfile.ZipFile(installed_wheel.wheel) as zf:
        names = set(zf.namelist())
    assert installed_wheel.wheel.name == f"samakia_fabric-{fabric.__version__}-py3-none-any.whl"
    for path in (
        "fabric/py.typed",
        "fabric/runtime/apply_policy.py",
        "fabric/testing.py",
        "fabric/_data/catalog.yaml",
        "fabric/_data/playbooks/site.yml",
        "fabric/_data/playbooks/ansible.cfg",
        "fabric/_data/playbooks/roles/ssh_hardening/tasks/main.yml",
        "fabric/_data/playbooks/collections/ansible_collections/samakia/fabric/plugins/modules/files.py",
    ):
        assert path in names, path
    # Only the package: no repository tooling, no bytecode.
    assert {n.split("/")[0] for n in names} == {"fabric", f"samakia_fabric-{fabric.__version__}.dist-info"}
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    pins = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert requirements(installed_wheel.wheel) == sorted(pins)
    assert all("==" in pin for pin in pins), pins


def test_the_installed_package_uses_its_own_policy_and_catalog(installed_wheel: InstalledWheel, tmp_path: Path) -> None:
    probe = """
import json, fabric, fabric.paths as p
from fabric.playbook_digest import files_digest
print(json.dumps({
    "file": fabric.__file__, "version": fabric.__version__, "installed": p.INSTALLED,
    "playbooks": str(p.PLAYBOOKS_DIR), "catalog": fabric.shipped_catalog().model_dump(mode="json"),
    "digest": files_digest(p.PLAYBOOKS_DIR, "site.yml", ["vars/dns.yml"]),
}))
"""
    result = run_in(installed_wheel, tmp_path, "-c", probe)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    site = str(installed_wheel.venv)
    assert seen["file"].startswith(site) and seen["playbooks"].startswith(site), seen
    assert seen["installed"] is True and seen["version"] == fabric.__version__
    # The very catalog and policy of this checkout, byte for byte (the digest covers every file the play reads).
    assert seen["catalog"] == load_catalog(CATALOG_FILE, missing_ok=False).model_dump(mode="json")
    assert seen["digest"] == files_digest(PLAYBOOKS_DIR, "site.yml", ["vars/dns.yml"])
    # Its pinned dependencies agree with each other.
    check = run_in(installed_wheel, tmp_path, "-m", "pip", "check")
    assert check.returncode == 0, check.stdout + check.stderr


def test_the_readme_example_runs_on_the_installed_package(installed_wheel: InstalledWheel, tmp_path: Path) -> None:
    (tmp_path / "compose.py").write_text((ROOT / "examples" / "compose.py").read_text())
    probe = """
import json, runpy
from fabric.testing import COMMAND, CONTAINER, FILE, run_program
rec = run_program(lambda: runpy.run_path("compose.py"))
(image,), (container,), (policy,) = rec.of_type(FILE), rec.of_type(CONTAINER), rec.of_type(COMMAND)
print(json.dumps({"file": image.inputs["fileName"], "trigger": container.replacement_trigger,
                  "create": policy.inputs["create"], "outputs": rec.stack_outputs}))
"""
    token = {"PROXMOX_VE_API_TOKEN": "root@pam!example=00000000-0000-0000-0000-000000000000"}
    result = run_in(installed_wheel, tmp_path, "-c", probe, env=token)
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    newest = load_catalog(CATALOG_FILE, missing_ok=False).families["debian12-base"][-1]
    assert seen["file"] == newest.file_name
    assert seen["trigger"] == newest.identity("debian12-base")
    assert seen["create"] == "python3 -m fabric.runtime.apply_policy"
    assert seen["outputs"]["cache"] == "5001"


def test_the_policy_runner_runs_from_the_installed_package(installed_wheel: InstalledWheel, tmp_path: Path) -> None:
    # No sshd listens on this port: the installed runner gets as far as waiting for it, then says so.
    request = {
        "playbook": "site.yml",
        "vars": {},
        "target": {"type": "ssh", "host": "127.0.0.1", "port": 9, "name": "nowhere", "wait_s": 1},
    }
    result = run_in(installed_wheel, tmp_path, "-m", "fabric.runtime.apply_policy", stdin=json.dumps(request))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "sshd on nowhere (127.0.0.1:9) did not answer within 1s" in result.stderr
    # Its Ansible is the venv's own, with the collections the roles need.
    doc = run(
        [str(installed_wheel.venv / "bin" / "ansible-doc"), "-t", "filter", "community.general.dict_kv"], tmp_path
    )
    assert doc.returncode == 0 and "dict_kv" in doc.stdout, doc.stderr
    assert sys.prefix != str(installed_wheel.venv)


CALLER = """\
import fabric

args = fabric.ImageArgs(
    family="debian12-base",
    build=fabric.shipped_catalog().families["debian12-base"][-1],
    node="pve1",
    mirror_url=5,
)
reveal_type(fabric.LxcContainer.image_identity)
"""
# The provider SDKs are thousands of generated modules the caller does not touch: skipped.
MYPY_INI = """\
[mypy]
strict = true
[mypy-pulumi_proxmoxve.*]
follow_imports = skip
[mypy-pulumi_command.*]
follow_imports = skip
"""


def test_the_typed_surface_checks_a_caller_program(installed_wheel: InstalledWheel, tmp_path: Path) -> None:
    # mypy (strict) on a caller's program against the installed package: py.typed makes the package's
    # own annotations count, so a wrong argument type is caught and an output's type is known.
    (tmp_path / "prog.py").write_text(CALLER)
    (tmp_path / "mypy.ini").write_text(MYPY_INI)
    mypy = Path(sys.executable).parent / "mypy"
    cmd = [str(mypy), "--python-executable", str(installed_wheel.python), "--config-file", "mypy.ini"]
    result = run([*cmd, "--cache-dir", str(tmp_path / "cache"), "prog.py"], tmp_path)
    assert "py.typed" not in result.stdout, result.stdout
    assert 'Argument "mirror_url" to "ImageArgs" has incompatible type "int"; expected "str"' in result.stdout
    assert re.search(r'Revealed type is "pulumi\.output\.Output\[(builtins\.)?str\]"', result.stdout), result.stdout
    assert result.stdout.strip().endswith("Found 1 error in 1 file (checked 1 source file)"), result.stdout
