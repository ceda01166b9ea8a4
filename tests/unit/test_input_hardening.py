"""Bad input never crashes, never leaks, never slips through: the classes of issue 13 that the
data-driven cases in ``stacks/bad/`` cannot express (files, secrets, protection, defaults)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from fabric import FabricConfigError, validate
from fabric.catalog import load_catalog, parse_catalog
from fabric.errors import InputError
from fabric.program import run
from fabric.stack_file import read_stack_file
from fabric.testing import run_program
from fabric.yaml_input import C_LOADER, parse_yaml

from .conftest import ROOT, STACKS, deep_merge, engine_config, good_raw

PRIVATE_KEY_BODY = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW"


def _validate(raw: dict, **kwargs: object) -> FabricConfigError:
    with pytest.raises(FabricConfigError) as caught:
        validate(raw, project_dir=ROOT, secret_keys=good_raw()[1], **kwargs)  # type: ignore[arg-type]
    return caught.value


# --- class 4: silent loss ---------------------------------------------------------------------


def test_the_c_loader_is_in_use() -> None:
    assert C_LOADER, "PyYAML without libyaml: stack files of large fleets load 10x slower"


def test_a_duplicate_container_is_refused_with_both_lines(tmp_path: Path) -> None:
    stack = tmp_path / "Pulumi.dup.yaml"
    stack.write_text(
        textwrap.dedent(
            """\
            config:
              fabric:containers:
                web-1: {vmid: 101}
                web-1: {vmid: 102}
            """
        )
    )
    with pytest.raises(InputError) as caught:
        read_stack_file(stack)
    message = str(caught.value)
    assert message.startswith(f"{stack}:4: ") and "duplicate key 'web-1'" in message and "line 3" in message
    assert "\n" not in message


def test_merge_keys_are_not_duplicates() -> None:
    assert parse_yaml("a: &x {k: 1}\nb:\n  <<: *x\n  j: 2\n", "t") == {"a": {"k": 1}, "b": {"k": 1, "j": 2}}


def test_a_duplicate_catalog_key_or_version_is_refused() -> None:
    text = (STACKS / "catalog.yaml").read_text()
    with pytest.raises(InputError, match=r"duplicate key 'sha256'"):
        parse_catalog(
            text.replace("      size: 52428800", '      sha256: "' + "3" * 64 + '"\n      size: 52428800'), "c"
        )
    body = yaml.safe_load(text)
    twice = body["families"]["debian12-base"][0] | {"sha256": "4" * 64}
    body["families"]["debian12-base"].append(twice)
    with pytest.raises(InputError, match=r"families: .*lists version 1.0.0 more than once"):
        parse_catalog(yaml.safe_dump(body), "c")


@pytest.mark.parametrize("name", ["../../etc/passwd.tar.zst", "/srv/x.tar.zst", "a,size=1.tar.zst", "x.tar.zst\n"])
def test_a_catalog_file_name_is_a_plain_file_name(name: str) -> None:
    body = yaml.safe_load((STACKS / "catalog.yaml").read_text())
    body["families"]["debian12-base"][0]["file_name"] = name
    with pytest.raises(InputError, match=r"c: families.debian12-base.0.file_name: "):
        parse_catalog(yaml.safe_dump(body), "c")


def test_a_broken_catalog_is_one_problem_at_image_catalog(tmp_path: Path) -> None:
    bad = ROOT / "tests" / "unit" / "stacks" / ".broken-catalog.yaml"
    bad.write_text("families: [unclosed\n")
    try:
        raw, _ = good_raw()
        err = _validate({**raw, "imageCatalog": str(bad.relative_to(ROOT))})
    finally:
        bad.unlink()
    assert err.paths == ["imageCatalog"]
    assert "not valid YAML" in str(err)


def test_a_catalog_outside_the_project_is_never_read_or_echoed() -> None:
    raw, _ = good_raw()
    err = _validate({**raw, "imageCatalog": "/etc/passwd"})
    assert err.paths == ["imageCatalog"] and "root:" not in str(err)


# --- class 1: unusable files are one line naming the file ---------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "stack file not found"),
        ("config: [\n", "not valid YAML"),
        ("- a\n- b\n", "a stack file is a mapping"),
        ("config: 3\n", "config: must be a mapping"),
        (b"\xff\xfe", "not UTF-8"),
    ],
)
def test_an_unusable_stack_file_is_one_line(tmp_path: Path, content: str | bytes | None, expected: str) -> None:
    path = tmp_path / "Pulumi.x.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(InputError) as caught:
        read_stack_file(path)
    assert str(caught.value).startswith(str(path)) and expected in str(caught.value)
    assert "\n" not in str(caught.value)


# --- class 2: secrets are never echoed --------------------------------------------------------


def test_a_plaintext_credential_is_refused_without_echo_and_says_how() -> None:
    raw, _ = good_raw()
    value = "PVEAPIToken=root@pam!ci=4c2e7f00-aaaa-bbbb-cccc-plaintextvalue"
    err = _validate(deep_merge(raw, {"proxmox": {"apiToken": value}}))
    text = str(err)
    assert err.paths == ["proxmox.apiToken"]
    assert "4c2e7f00" not in text and "plaintext" in text
    assert "{env: NAME}" in text and "{config: KEY}" in text


def test_a_private_key_is_refused_without_any_part_of_it() -> None:
    raw, _ = good_raw()
    key = f"-----BEGIN OPENSSH PRIVATE KEY-----\n{PRIVATE_KEY_BODY}\n-----END OPENSSH PRIVATE KEY-----"
    err = _validate(deep_merge(raw, {"containers": {"dns-1": {"sshKeys": [key]}}}))
    assert "containers.dns-1.sshKeys.0" in err.paths
    assert PRIVATE_KEY_BODY[:12] not in str(err) and "BEGIN" not in str(err)


def test_secret_looking_policy_vars_and_unknown_keys_are_not_echoed() -> None:
    raw, _ = good_raw()
    err = _validate(
        deep_merge(raw, {"policies": {"database": {"vars": {"db_password": "hunter2-x"}}}, "apiTokn": "tok-9f8e7d"})
    )
    assert {"policies.database.vars.db_password", "apiTokn"} <= set(err.paths)
    assert "hunter2-x" not in str(err) and "tok-9f8e7d" not in str(err)


# --- class 7: one pass, defaults once ---------------------------------------------------------


def test_a_defaults_typo_is_reported_once_and_not_per_container() -> None:
    raw, _ = good_raw()
    err = _validate(deep_merge(raw, {"containerDefaults": {"memroyMb": 1, "diskGb": 1}}))
    assert err.paths == ["containerDefaults.diskGb", "containerDefaults.memroyMb"]


def test_a_container_overriding_a_bad_default_is_still_blamed_on_the_default_only() -> None:
    raw, _ = good_raw()
    err = _validate(deep_merge(raw, {"containerDefaults": {"cpu": 0}, "containers": {"db-1": {"cpu": 999}}}))
    assert err.paths == ["containerDefaults.cpu", "containers.db-1.cpu"]


# --- class 9: protection is not a config knob -------------------------------------------------


def test_prod_cannot_switch_protection_off_by_config() -> None:
    raw, secret = read_stack_file(ROOT / "Pulumi.prod.yaml")
    with pytest.raises(FabricConfigError) as caught:
        validate({**raw, "protected": False}, project_dir=ROOT, secret_keys=secret, stack="prod")
    assert caught.value.paths == ["protected"]
    assert "cannot switch protection off" in str(caught.value)


def test_prod_is_protected_even_without_the_key() -> None:
    raw, secret = read_stack_file(ROOT / "Pulumi.prod.yaml")
    raw = {k: v for k, v in raw.items() if k != "protected"}
    fabric = validate(raw, project_dir=ROOT, secret_keys=secret, stack="prod")
    assert fabric.intent.protected is True


def test_the_program_refuses_an_up_of_prod_with_protection_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    # What `pulumi up -s prod -c fabric:protected=false` hands the program.
    monkeypatch.setenv("PROXMOX_VE_API_TOKEN", "test-only")
    monkeypatch.delenv("CI", raising=False)
    raw, secret = read_stack_file(ROOT / "Pulumi.prod.yaml")
    config = engine_config({**raw, "protected": False}, secret)
    with pytest.raises(FabricConfigError, match="cannot switch protection off"):
        run_program(lambda: run(ROOT), config=config, secret_keys=sorted(secret), stack="prod", preview=False)


def test_catalog_loader_keeps_missing_ok_for_a_first_build(tmp_path: Path) -> None:
    assert load_catalog(tmp_path / "new.yaml").families == {}
    with pytest.raises(InputError, match="image catalog not found"):
        load_catalog(tmp_path / "new.yaml", missing_ok=False)


def test_a_duplicate_container_in_an_intent_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "playbooks").symlink_to(ROOT / "playbooks")
    catalog = tmp_path / "tests" / "unit" / "stacks" / "catalog.yaml"
    catalog.parent.mkdir(parents=True)
    catalog.write_bytes((STACKS / "catalog.yaml").read_bytes())
    part = tmp_path / "intent" / "web.yaml"
    part.parent.mkdir()
    part.write_text("containers:\n  web-1: {vmid: 301}\n  web-1: {vmid: 302}\n")
    raw, secret = good_raw()
    with pytest.raises(FabricConfigError) as caught:
        validate({**raw, "intentFiles": ["intent/web.yaml"]}, project_dir=tmp_path, secret_keys=secret)
    assert caught.value.paths == ["intentFiles.0"]
    assert "intent/web.yaml:3: duplicate key 'web-1' (first given at line 2)" in str(caught.value)
