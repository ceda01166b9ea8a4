"""Intent files: containers kept in repository files that the stack file names."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from fabric import FabricConfigError, validate
from fabric.stack_file import read_stack_file
from ops.stack.plan_summary import groups_of

from .conftest import ROOT, STACKS, engine_config, good_raw

ARG_MAX_STRING = 128 * 1024  # Linux's MAX_ARG_STRLEN: the longest single environment string


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project directory that sees the repository's playbooks and the unit tier's catalog."""
    (tmp_path / "playbooks").symlink_to(ROOT / "playbooks")
    # A copy, not a link: the catalog path must resolve inside the project (links followed).
    catalog = tmp_path / "tests" / "unit" / "stacks" / "catalog.yaml"
    catalog.parent.mkdir(parents=True)
    catalog.write_bytes((STACKS / "catalog.yaml").read_bytes())
    return tmp_path


def write(path: Path, body: Any) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body if isinstance(body, str) else yaml.safe_dump(body))
    return path.name


def split(raw: dict[str, Any], project: Path, names: list[list[str]]) -> dict[str, Any]:
    """``raw`` with the named containers moved into one intent file per group."""
    out = dict(raw)
    containers = dict(raw["containers"])
    files = []
    for index, group in enumerate(names):
        rel = f"intent/part-{index}.yaml"
        write(project / rel, {"containers": {n: containers.pop(n) for n in group}})
        files.append(rel)
    out["containers"] = containers
    out["intentFiles"] = files
    return out


def problems(raw: dict[str, Any], project: Path) -> dict[str, str]:
    with pytest.raises(FabricConfigError) as err:
        validate(raw, project_dir=project, secret_keys=good_raw()[1])
    return {p.path: p.message for p in err.value.problems}


def test_containers_from_files_validate_exactly_as_inline(project: Path) -> None:
    raw, secret = good_raw()
    inline = validate(raw, project_dir=project, secret_keys=secret)
    names = sorted(raw["containers"])
    split_raw = split(raw, project, [names[:1], names[1:]])
    assert split_raw["containers"] == {}
    from_files = validate(split_raw, project_dir=project, secret_keys=secret)
    # containerDefaults reach the file's containers too: the validated intent is identical.
    assert from_files.intent == inline.intent


def test_a_problem_in_a_file_is_named_like_an_inline_one(project: Path) -> None:
    raw, _ = good_raw()
    name = sorted(raw["containers"])[0]
    split_raw = split(raw, project, [[name]])
    part = project / "intent/part-0.yaml"
    body = yaml.safe_load(part.read_text())
    body["containers"][name]["cpu"] = 0
    write(part, body)
    assert f"containers.{name}.cpu" in problems(split_raw, project)


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (["../outside.yaml"], "inside the project"),
        (["/etc/hosts.yaml"], "inside the project"),
        (["intent/escape.yaml"], "inside the project"),  # a symlink leading out of the project
        (["intent/part.txt"], ".yaml file"),
        (["intent/missing.yaml"], "no such file"),
        (["intent/extra.yaml"], "keep images in the stack file"),
        (["intent/broken.yaml"], "not valid YAML"),
        (["intent/list.yaml"], "must be a mapping"),
        (["intent/ok.yaml", "intent/ok.yaml"], "listed twice"),
    ],
)
def test_bad_intent_files_are_named(project: Path, files: list[str], message: str) -> None:
    outside = project.parent / "outside.yaml"
    write(outside, {"containers": {}})
    (project / "intent").mkdir()
    (project / "intent/escape.yaml").symlink_to(outside)
    write(project / "intent/part.txt", {"containers": {}})
    write(project / "intent/extra.yaml", {"containers": {}, "images": {}})
    write(project / "intent/broken.yaml", "containers: {a: [\n")
    write(project / "intent/list.yaml", "- a\n")
    write(project / "intent/ok.yaml", {"containers": {}})
    raw, _ = good_raw()
    found = problems({**raw, "intentFiles": files}, project)
    at = f"intentFiles.{len(files) - 1}"
    assert message in found[at], found


def test_a_container_defined_twice_names_both_places(project: Path) -> None:
    raw, _ = good_raw()
    name = sorted(raw["containers"])[0]
    write(project / "intent/again.yaml", {"containers": {name: raw["containers"][name]}})
    found = problems({**raw, "intentFiles": ["intent/again.yaml"]}, project)
    assert found[f"containers.{name}"] == "is defined in the stack file and in intent/again.yaml"


def test_intent_files_must_be_a_list_of_paths(project: Path) -> None:
    raw, _ = good_raw()
    assert "intentFiles" in problems({**raw, "intentFiles": "intent/a.yaml"}, project)


def test_the_stack_file_stays_small_however_large_the_fleet(project: Path) -> None:
    """5000 containers inline would not fit the engine's one-string limit; named files do."""
    raw, secret = good_raw()
    template = raw["containers"]["dns-1"]
    many = {
        f"ct-{i}": {**template, "vmid": 10_000 + i, "hostname": f"ct-{i}", "nic": {"network": "lan", "address": "x"}}
        for i in range(5000)
    }
    inline = len(json.dumps(engine_config({**raw, "containers": many}, secret)))
    assert inline > ARG_MAX_STRING  # the problem is real at this size
    files = [f"intent/ct-{k}.yaml" for k in range(5)]
    named = engine_config({**raw, "containers": {}, "intentFiles": files}, secret)
    assert len(json.dumps(named)) < ARG_MAX_STRING // 16


def test_plan_summary_groups_come_from_intent_files_too(project: Path) -> None:
    stack = yaml.safe_load((STACKS / "good.yaml").read_text())
    containers = stack["config"].pop("fabric:containers")
    write(project / "intent/all.yaml", {"containers": containers})
    stack["config"]["fabric:intentFiles"] = ["intent/all.yaml"]
    write(project / "Pulumi.split.yaml", stack)
    groups = groups_of(project / "Pulumi.split.yaml")
    assert groups and groups == groups_of(STACKS / "good.yaml")
    raw, _ = read_stack_file(project / "Pulumi.split.yaml")
    assert raw["intentFiles"] == ["intent/all.yaml"]
