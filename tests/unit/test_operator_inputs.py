"""Operator commands on malformed input: one line naming the file and field, exit 2, nothing leaked.

Exit codes shared by every operator command (``fabric.errors``): 0 success, 1 findings (an
invalid stack, drift, a rewritten catalog, a refused build), 2 unusable input.
"""

from __future__ import annotations

import contextlib
import io
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from ops.images import build, catalog_check
from ops.stack import cli
from ops.stack.validate import main as validate_main

from .conftest import ROOT, STACKS

SECRET = "S3CRET-vars-value-0042"


def run(main: Callable[[list[str]], int], *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


# --- stack validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, "stack file not found"),
        ("config:\n  fabric:protected: [\n", "not valid YAML"),
        ("just text\n", "a stack file is a mapping"),
        ("config:\n  fabric:nodes: {}\n  fabric:nodes: {}\n", "duplicate key 'fabric:nodes'"),
    ],
)
def test_stack_validation_on_an_unusable_file(tmp_path: Path, text: str | None, expected: str) -> None:
    path = tmp_path / "Pulumi.x.yaml"
    if text is not None:
        path.write_text(text)
    code, out, err = run(validate_main, str(path))
    assert code == 2 and out == "" and expected in err and err.count("\n") == 1


def test_stack_validation_exit_codes() -> None:
    assert run(validate_main, str(ROOT / "Pulumi.prod.yaml"))[0] == 0
    code, out, _ = run(validate_main, str(STACKS / "bad" / "plaintext-token.yaml"))
    assert code == 1 and "  - " in out  # findings, each with its field path
    assert run(validate_main)[0] == 2


# --- configuration drift ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("t.yaml", "- {root: [\n", "not valid YAML"),
        ("t.yaml", "root: /x\n", "a targets file is a list of targets, not a dict"),
        ("t.yaml", "- 5\n", "targets.0: must be a mapping"),
        ("t.yaml", f"- {{name: a, vars: {{db: {SECRET}}}}}\n", "targets.0: needs 'root'"),
        ("t.yaml", "- {host: 10.0.0.1, port: [22]}\n", "targets.0.port: must be a int"),
        ("t.yaml", "- {host: 10.0.0.1, port: 70000}\n", "targets.0.port: must be 1-65535"),
        ("t.yaml", f"- {{root: /x, vars: [{SECRET}]}}\n", "targets.0.vars: must be a dict"),
        ("t.yaml", "- {root: /x, passwrd: y}\n", "targets.0: unknown key(s) passwrd"),
        ("t.yaml", "- {root: /x, root: /y}\n", "duplicate key 'root'"),
        ("t.json", '[{"root": "/x",}]', "not valid JSON"),
        ("t.yaml", "- {root: /x, vars_file: no-such.yaml}\n", "vars file not found"),
        ("missing.yaml", None, "targets file not found"),
    ],
)
def test_drift_config_on_a_malformed_targets_file(tmp_path: Path, name: str, text: str | None, expected: str) -> None:
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    code, out, err = run(cli.main, "drift-config", "--targets-file", str(path))
    assert code == 2, "a crash would exit 1, which CI reads as drift"
    assert out == "" and err.startswith(f"drift-config: error: {path}") and expected in err
    assert err.count("\n") == 1 and SECRET not in err


# --- image catalog check and image build --------------------------------------------------------


def _git_repo(tmp_path: Path, catalog_text: str) -> Path:
    repo = tmp_path / "repo"
    (repo / "images").mkdir(parents=True)
    (repo / "images" / "catalog.yaml").write_text(catalog_text)
    for cmd in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "catalog"]):
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(repo), *cmd], check=True, capture_output=True
        )
    return repo


def test_catalog_check_on_a_malformed_catalog(tmp_path: Path) -> None:
    repo = _git_repo(tmp_path, (STACKS / "catalog.yaml").read_text())
    catalog = repo / "images" / "catalog.yaml"
    catalog.write_text(catalog.read_text().replace("size: 52428800", "size: 52428800\n      size: 1"))
    code, _, err = run(catalog_check.main, "--catalog", str(catalog), "--base", "main")
    assert code == 2 and "duplicate key 'size'" in err and err.count("\n") == 1


@pytest.mark.parametrize("target", ["Pulumi.prod.yaml", "no-such-catalog.yaml", "/etc/passwd"])
def test_catalog_check_refuses_anything_but_the_image_catalog(target: str) -> None:
    path = target if target.startswith("/") else str(ROOT / target)
    code, out, err = run(catalog_check.main, "--catalog", path)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "root:" not in err and "fabric:" not in err, "the file's content is never echoed"


def test_image_build_on_a_malformed_catalog_builds_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAMAKIA_CACHE", str(tmp_path / "cache"))
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text("families:\n  debian12-base: {version: 1}\n")
    code, _, err = run(build.main, "--family", "debian12-base", "--version", "9.9.9", "--catalog", str(catalog))
    assert code == 2 and err.startswith("build-image: error: ") and "families.debian12-base" in err
    assert err.count("\n") == 1
    assert not (tmp_path / "cache" / "images").exists(), "nothing may be built"
    code, _, err = run(build.main, "--family", "no/such", "--version", "1.0.0", "--catalog", str(catalog))
    assert code == 2


# --- the stack runner ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["down", "--stack", "prod"], "stack 'prod' is protected; 'down' is refused"),
        (["preview", "--stack", "../../etc/x"], "--stack: '../../etc/x' is not a stack name"),
        (["preview", "--stack", "no-such-stack"], "Pulumi.no-such-stack.yaml: stack file not found"),
    ],
)
def test_the_stack_runner_refuses_before_the_engine(argv: list[str], expected: str) -> None:
    code, out, err = run(cli.main, *argv)
    assert code == 2 and out == "" and expected in err and err.count("\n") == 1
