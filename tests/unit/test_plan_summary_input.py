"""The plan summary on bad input: one line naming the file and field, exit 2; a failed preview fails."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fabric.tokens import CONTAINER
from ops.stack.plan_summary import main

from .conftest import ROOT, STACKS

PROD = ROOT / "Pulumi.prod.yaml"
URN = "urn:pulumi:prod::samakia-fabric::samakia:fabric:Fleet$samakia:fabric:LxcContainer$"


def run(preview: Path, *extra: str, stack_file: Path = PROD) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(preview), "--stack-file", str(stack_file), *extra])
    return code, out.getvalue(), err.getvalue()


def write(tmp_path: Path, body: Any, name: str = "preview.json") -> Path:
    path = tmp_path / name
    path.write_text(body if isinstance(body, str) else json.dumps(body))
    return path


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (None, "preview file not found"),
        ("", "preview file is empty"),
        ('{"steps": [{"op": "upd', "not JSON at line 1"),
        ("[1, 2]", "not a 'pulumi preview --json' document (a list)"),
        ({"hello": 1}, "no steps, changeSummary or diagnostics"),
        ({"steps": {"op": "same"}}, "steps: must be a list"),
        ({"steps": [{"op": "delete"}]}, "steps.0.urn: missing or not a Pulumi URN"),
        ({"steps": [{"op": "delete", "urn": f"{URN}x::a", "oldState": "gone"}]}, "steps.0.oldState: must be an object"),
        ({"steps": [], "diagnostics": "boom"}, "diagnostics: must be a list"),
    ],
)
def test_an_unusable_preview_is_one_line_and_exit_2(tmp_path: Path, body: Any, expected: str) -> None:
    path = tmp_path / "preview.json" if body is None else write(tmp_path, body)
    code, out, err = run(path)
    assert code == 2 and out == ""
    assert err.startswith(f"plan-summary: error: {path}: ") and expected in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_a_failed_preview_fails_the_summary(tmp_path: Path) -> None:
    preview = {
        "diagnostics": [
            {"urn": f"{URN}{CONTAINER}::db-1", "message": "error: 401 Unauthorized\n  more", "severity": "error"},
            {"message": "a warning", "severity": "warning"},
        ]
    }
    code, out, err = run(write(tmp_path, preview))
    assert code == 2
    assert "PREVIEW FAILED" in out and "db-1: error: 401 Unauthorized more" in out
    assert "No changes." not in out and "a warning" not in out
    assert "the preview failed (1 error(s))" in err


def test_an_empty_but_successful_preview_is_no_changes(tmp_path: Path) -> None:
    code, out, _ = run(write(tmp_path, {"steps": [], "changeSummary": {}}), "--strict")
    assert code == 0 and "No changes." in out


def test_a_protected_delete_is_flagged_and_blocks_the_gate(tmp_path: Path) -> None:
    step = {
        "op": "delete",
        "urn": f"{URN}{CONTAINER}::db-1",
        "oldState": {"inputs": {"vmId": 2201, "protection": True}},
    }
    code, out, _ = run(write(tmp_path, {"steps": [step]}), "--strict")
    assert code == 1
    assert "| db-1 (ContainerLegacy) | **delete (protected)** |" in out
    assert "protected-delete" in out


@pytest.mark.parametrize(
    ("stack", "expected"),
    [
        ("config: [\n", "not valid YAML"),
        ("config:\n  fabric:containers: {a: 1}\n", "invalid stack file"),
    ],
)
def test_a_bad_stack_file_is_one_line_and_exit_2(tmp_path: Path, stack: str, expected: str) -> None:
    code, out, err = run(write(tmp_path, {"steps": []}), stack_file=write(tmp_path, stack, "Pulumi.x.yaml"))
    assert code == 2 and out == "" and expected in err and err.count("\n") == 1


json_docs = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                ["steps", "op", "urn", "oldState", "newState", "inputs", "diagnostics", "severity", "message", "x"]
            ),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(json_docs)
def test_no_preview_document_crashes_the_summary(tmp_path_factory: Any, doc: Any) -> None:
    path = Path(tmp_path_factory.getbasetemp()) / "fuzz-preview.json"
    path.write_text(json.dumps(doc))
    code, out, err = run(path, stack_file=STACKS / "good.yaml")  # an exception here is the traceback
    assert code in (0, 2)
    assert "Traceback" not in out + err
    if code == 2:
        assert err.startswith(f"plan-summary: error: {path}")


def test_the_stack_file_is_checked_against_the_project_it_names(tmp_path: Path) -> None:
    """A copy of the project (the engine tier's, a CI workspace) resolves the catalog in that copy."""
    stack = tmp_path / "Pulumi.prod.yaml"
    stack.write_text(PROD.read_text())
    preview = write(tmp_path, {"steps": []})
    code, _, err = run(preview, "--project-dir", str(tmp_path), stack_file=stack)
    assert code == 2 and "imageCatalog" in err  # the copy holds no catalog yet
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "catalog.yaml").write_text((ROOT / "images" / "catalog.yaml").read_text())
    for name in ("playbooks", "policy"):
        (tmp_path / name).symlink_to(ROOT / name)
    code, _, err = run(preview, "--project-dir", str(tmp_path), stack_file=stack)
    assert code == 0, err
