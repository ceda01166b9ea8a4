"""Fuzzing the PR check: malformed stack files never crash it, never leak, always name a field.

Each example is a whole stack file written to disk and run through the stack validation
command (``ops.stack.validate``) in process: the good reference stack with random damage
(wrong types, missing and extra keys, bad references, hostile strings, planted credentials),
or a file damaged as text (truncated, a key repeated, not YAML at all). The last mutation is
always one that makes the stack invalid, so every example must fail. Asserted for each: no
traceback, a non-zero exit, an error naming a field (or the file and line), and none of the
planted credential values anywhere in the output.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ops.stack.validate import main as validate_main

from .conftest import STACKS, value_paths

EXAMPLES = int(os.environ.get("SAMAKIA_FUZZ_EXAMPLES", "1000"))
_DUMPER: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
GOOD_BODY: dict[str, Any] = yaml.safe_load((STACKS / "good.yaml").read_text())
GOOD = GOOD_BODY["config"]

HOSTILE = [
    "a\nb",
    "x,firewall=0",
    "../../etc/passwd",
    "/etc/shadow",
    "$(reboot)",
    "`id`",
    "' OR 1=1 --",
    "\x1b[31mred",
    "\x00",
    "é" * 3,
    "名前",
    "k" * 300,
    "vmbr0;ip link del",
    "{{ lookup('pipe','id') }}",
    'command="sh" ssh-ed25519 AAAA',
    "-----BEGIN OPENSSH PRIVATE KEY-----",
    " ",
    "",
]
secrets = st.from_regex(r"S3CRET-[A-Za-z0-9]{12}", fullmatch=True)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10)
    | st.sampled_from(HOSTILE)
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


PATHS = value_paths(GOOD)
CONTAINER_REFS = [
    ("fabric:containers", name, field) for name in GOOD["fabric:containers"] for field in ("node", "image", "policy")
]
# Fields whose format is checked: a hostile string there must be refused.
CHECKED_STRINGS = [
    ("fabric:containers", "dns-1", "hostname"),
    ("fabric:networks", "lan", "bridge"),
    ("fabric:nodes", "pve1", "diskStorage"),
    ("fabric:containers", "db-1", "datastore"),
    ("fabric:containers", "db-1", "pool"),
    ("fabric:networks", "lan", "gateway"),
    ("fabric:imageCatalog",),
    ("fabric:imageMirror",),
]
# Where a credential may be pasted by mistake: each is refused, and must not be echoed.
SECRET_SPOTS = [
    ("fabric:proxmox", "apiToken"),
    ("fabric:proxmox", "password"),
    ("fabric:connection", "privateKey"),
    ("fabric:policies", "database", "vars", "db_password"),
    ("fabric:policies", "dns", "vars", "api_token"),
    ("fabric:proxmoxApiTokn",),
    ("fabric:containers", "dns-1", "sshKeys", 0),
]


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        value = value[part]
    return value


def _set(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    """A copy of ``value`` with ``path`` set (created in mappings as needed)."""
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _set(value.get(head, {}), rest, new)}
    if isinstance(value, list) and isinstance(head, int) and head < len(value):
        copy = list(value)
        copy[head] = _set(copy[head], rest, new)
        return copy
    raise KeyError(head)


def _delete(value: Any, path: tuple[Any, ...]) -> Any:
    parent = _get(value, path[:-1])
    if isinstance(parent, dict):
        return _set(value, path[:-1], {k: v for k, v in parent.items() if k != path[-1]})
    return _set(value, path[:-1], [v for i, v in enumerate(parent) if i != path[-1]])


@st.composite
def stack_files(draw: st.DrawFn) -> tuple[str, list[str], str]:
    """(file text, planted secret values, the kind of the final, invalidating damage)."""
    config: Any = GOOD
    planted: list[str] = []
    for _ in range(draw(st.integers(0, 3))):  # random damage first: may or may not invalidate
        path = draw(st.sampled_from(PATHS))
        try:
            config = _delete(config, path) if draw(st.booleans()) else _set(config, path, draw(values))
        except (KeyError, IndexError, TypeError):
            continue
    kind = draw(st.sampled_from(["type", "missing", "extra", "reference", "hostile", "secret", "text"]))
    try:
        if kind == "type":  # a required number or mapping given as something else
            path = draw(
                st.sampled_from(
                    [
                        ("fabric:containers", "dns-1", "vmid"),
                        ("fabric:networks", "lan"),
                        ("fabric:containers", "db-1", "nic"),
                        ("fabric:nodes",),
                    ]
                )
            )
            config = _set(config, path, draw(st.sampled_from(["12", [1], 1.5, True, "x"])))
        elif kind == "missing":
            path = draw(
                st.sampled_from(
                    [
                        ("fabric:proxmox",),
                        ("fabric:containers", "db-1", "vmid"),
                        ("fabric:networks", "lan", "cidr"),
                        ("fabric:imageMirror",),
                    ]
                )
            )
            config = _delete(config, path)
        elif kind == "extra":
            key = draw(st.sampled_from(["fabric:containrs", "fabric:protectd", "fabric:x"]))
            config = {**config, key: draw(values)}
        elif kind == "reference":
            path = draw(st.sampled_from(CONTAINER_REFS))
            config = _set(config, path, draw(st.sampled_from(["nope", "pve9", "missing-alias"])))
        elif kind == "hostile":
            path = draw(st.sampled_from(CHECKED_STRINGS))
            config = _set(config, path, draw(st.sampled_from([h for h in HOSTILE if h != ""] + ["a,b=c"])))
        elif kind == "secret":
            value = draw(secrets)
            planted.append(value)
            path = draw(st.sampled_from(SECRET_SPOTS))
            if path[-1] == 0:
                value = f"-----BEGIN OPENSSH PRIVATE KEY-----\n{value}\n-----END OPENSSH PRIVATE KEY-----"
            config = _set(config, path, value)
    except (KeyError, IndexError, TypeError):
        kind, config = "extra", {**config, "fabric:unknownKey": 1}  # the path is gone: damage elsewhere
    text = yaml.dump({**GOOD_BODY, "config": config}, Dumper=_DUMPER, sort_keys=False, allow_unicode=True, width=4096)
    if kind == "text":  # damage the file itself
        how = draw(st.sampled_from(["truncate", "duplicate", "garbage", "list", "tab"]))
        lines = text.splitlines(keepends=True)
        if how == "truncate":
            text = text[: draw(st.integers(0, 40))] + "\n  : ["
        elif how == "duplicate":  # repeat a mapping key line at its own indentation: a duplicate key
            at = draw(st.sampled_from([i for i, line in enumerate(lines) if line.rstrip().endswith(":")]))
            text = "".join(lines[: at + 1]) + "".join(lines[at:])
        elif how == "garbage":
            text = draw(st.text(min_size=1, max_size=40)) + "\n: ["
        elif how == "list":
            text = "- " + "- ".join(lines[:3])
        else:
            text = "config:\n\tfabric:protected: true\n"
    return text, planted, kind


FIELD_NAMED = re.compile(r"(^  - \S.*?: )|(Pulumi\.fuzz\.yaml(:\d+)?: )", re.MULTILINE)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(stack_files())
def test_no_malformed_stack_file_crashes_leaks_or_passes(
    tmp_path_factory: Any, example: tuple[str, list[str], str]
) -> None:
    text, planted, _ = example
    path = Path(tmp_path_factory.getbasetemp()) / "Pulumi.fuzz.yaml"
    path.write_text(text, encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = validate_main([str(path)])  # an exception here fails the test: that is the traceback
    output = out.getvalue() + err.getvalue()
    assert code in (1, 2), output
    assert "Traceback" not in output
    assert FIELD_NAMED.search(output), output
    for value in planted:
        assert value not in output, output
