"""Validation: every bad stack fails with its field path, and registers nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fabric import FabricConfigError, load_catalog, validate
from fabric.program import run
from fabric.stack_file import read_stack_file
from fabric.testing import run_program

from .conftest import ROOT, STACKS, deep_merge, engine_config, good_raw, load_yaml, value_paths

BAD = sorted((STACKS / "bad").glob("*.yaml"))


def test_the_catalogue_of_bad_stacks_is_large_enough() -> None:
    assert len(BAD) >= 15


def test_good_stack_validates() -> None:
    raw, secret = good_raw()
    fabric = validate(raw, project_dir=ROOT, secret_keys=secret)
    assert set(fabric.intent.containers) == {"dns-1", "dns-2", "db-1"}
    assert fabric.images["next"].build.version == "1.1.0"


@pytest.mark.parametrize("case", BAD, ids=[p.stem for p in BAD])
def test_bad_stack_fails_with_its_field_path_and_registers_nothing(case: Path) -> None:
    spec = load_yaml(case)
    good, secret = good_raw()
    raw = deep_merge(good, spec["patch"])
    with pytest.raises(FabricConfigError) as caught:
        run_program(lambda: run(ROOT), config=engine_config(raw, secret), secret_keys=sorted(secret))
    err = caught.value
    assert set(spec["expect"]) <= set(err.paths), str(err)
    if "message" in spec:
        assert spec["message"] in str(err)
    # The whole report is one message naming each path.
    for path in spec["expect"]:
        assert path in str(err)


@pytest.mark.parametrize("case", BAD[:3], ids=[p.stem for p in BAD[:3]])
def test_nothing_is_registered_for_a_bad_stack(case: Path) -> None:
    import pulumi

    from fabric.testing import FabricMocks, RecordingMonitor

    spec = load_yaml(case)
    good, secret = good_raw()
    raw = deep_merge(good, spec["patch"])
    monitor = RecordingMonitor(FabricMocks())
    pulumi.runtime.set_all_config(engine_config(raw, secret), sorted(secret))
    pulumi.runtime.set_mocks(FabricMocks(), project="samakia-fabric", stack="test", preview=True, monitor=monitor)

    @pulumi.runtime.test
    def program() -> None:
        run(ROOT)

    with pytest.raises(FabricConfigError):
        program()
    pulumi.runtime.set_all_config({}, [])
    assert monitor.registered == []


def test_secret_values_never_reach_an_error_message() -> None:
    good, secret = good_raw()
    raw = deep_merge(good, {"proxmoxApiToken": "s3cr3t-token-value", "containers": {"dns-1": {"vmid": 1}}})
    with pytest.raises(FabricConfigError) as caught:
        validate(raw, project_dir=ROOT, secret_keys=secret | {"fabric:proxmoxApiToken"})
    assert "s3cr3t-token-value" not in str(caught.value)


def test_unreferenced_secret_is_reported() -> None:
    good, secret = good_raw()
    raw = {**good, "proxmoxPasword": "[secret]"}
    with pytest.raises(FabricConfigError) as caught:
        validate(raw, project_dir=ROOT, secret_keys=secret | {"fabric:proxmoxPasword"})
    assert caught.value.paths == ["proxmoxPasword"]


def test_missing_environment_credential_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROXMOX_VE_API_TOKEN", raising=False)
    raw, secret = read_stack_file(ROOT / "Pulumi.prod.yaml")
    with pytest.raises(FabricConfigError) as caught:
        run_program(lambda: run(ROOT), config=engine_config(raw, secret), secret_keys=sorted(secret))
    assert caught.value.paths == ["proxmox.apiToken.env"]


def test_prod_stack_validates_against_the_real_catalog() -> None:
    raw, secret = read_stack_file(ROOT / "Pulumi.prod.yaml")
    fabric = validate(raw, project_dir=ROOT, secret_keys=secret)
    intent = fabric.intent
    assert intent.protected is True
    assert len(intent.nodes) >= 2 and len(intent.containers) >= 10
    catalog = load_catalog(ROOT / intent.image_catalog)
    families = {img.family for img in fabric.images.values()}
    assert all(len(catalog.versions(f)) >= 2 for f in families)
    assert {c.group for c in intent.containers.values()} >= {"dns", "database", "object-storage", "edge"}


# --- property: random malformed intent only ever raises the fabric's own error -----------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replace(value[head], rest, new)}
    copy = list(value)
    copy[head] = _replace(copy[head], rest, new)
    return copy


GOOD, SECRET = good_raw()
GOOD_PATHS = value_paths(GOOD)
CATALOG = load_catalog(STACKS / "catalog.yaml")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(GOOD_PATHS), json_values), min_size=1, max_size=4))
def test_random_malformed_intent_only_raises_fabric_config_error(mutations: list[tuple[tuple[Any, ...], Any]]) -> None:
    raw: Any = GOOD
    for path, value in mutations:
        try:
            raw = _replace(raw, path, value)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed this path's parent
    try:
        validate(raw, project_dir=ROOT, secret_keys=SECRET, catalog=CATALOG)
    except FabricConfigError as err:
        assert err.problems, "a config error always names at least one problem"


@pytest.mark.parametrize("key", ["imageCatalog", "intentFiles"])
def test_a_file_name_too_long_for_the_os_is_a_problem_not_a_crash(key: str) -> None:
    raw, secret = good_raw()
    raw[key] = "k" * 300 + ".yaml" if key == "imageCatalog" else ["k" * 300 + ".yaml"]
    with pytest.raises(FabricConfigError) as err:
        validate(raw, project_dir=ROOT, secret_keys=secret)
    assert any(p.path.startswith(key) for p in err.value.problems), err.value
