"""Intent files: a stack file names files in the repository that hold its containers.

The engine hands the whole stack config to the program in one environment variable, and Linux
caps one such string at 128 KiB: past about 320 inline containers the program cannot even start
(``argument list too long``; pulumi/pulumi#8680). So a large stack keeps its containers in files
of the repository and the stack file names them::

    fabric:intentFiles:
      - intent/prod/web.yaml        # each file: {containers: {name: {...}, ...}}

The stack file stays the single entry point (nothing is read that it does not name). Each
path is relative to the project, must stay inside it (symlinks followed) and end in ``.yaml``
or ``.yml``. The containers of every file join the stack file's own ``containers`` before
validation, which then runs exactly as for inline containers (``containerDefaults``
included); a container name given twice, in two files or in a file and the stack file, is an
error naming both places. The files are read when the program runs, in the checkout that
runs it, so a pull request's preview shows the files of that pull request.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import FabricConfigError, InputError, Problem
from .repo_checks import inside, is_file
from .yaml_input import parse_yaml

KEY = "intentFiles"
SECTIONS = ("containers",)
"""What an intent file may hold: the per-container intent, which is what grows with the fleet."""


def _read(path: Path, at: str, rel: str) -> tuple[dict[str, Any] | None, list[Problem]]:
    try:
        body = parse_yaml(path.read_text(encoding="utf-8"), rel)  # C loader, duplicate keys refused
    except (OSError, UnicodeDecodeError) as err:
        return None, [Problem(at, f"cannot be read: {getattr(err, 'strerror', None) or err}", rel)]
    except InputError as err:
        return None, [Problem(at, str(err), rel)]
    if not isinstance(body, dict) or not body:
        return None, [Problem(at, f"must be a mapping with {' or '.join(SECTIONS)}", rel)]
    extra = sorted(str(k) for k in body if k not in SECTIONS)
    if extra:
        return None, [
            Problem(at, f"may hold only {', '.join(SECTIONS)}; keep {', '.join(extra)} in the stack file", rel)
        ]
    containers = body.get("containers")
    if not isinstance(containers, dict):
        return None, [Problem(f"{at}.containers", "must be a mapping of container name to its settings", rel)]
    return body, []


def expand(raw: Mapping[str, Any], project_dir: Path) -> dict[str, Any]:
    """``raw`` with the containers of its intent files joined in; ``intentFiles`` itself removed.

    Raises ``FabricConfigError`` naming every unusable file and every name given twice.
    """
    out = dict(raw)
    files = out.pop(KEY, None)
    if files is None:
        return out
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise FabricConfigError([Problem(KEY, "must be a list of paths relative to the project", files)])
    containers = out.get("containers", {})
    if not isinstance(containers, dict):
        return out  # the intent model names this problem
    merged: dict[str, Any] = dict(containers)
    origin = dict.fromkeys(containers, "the stack file")
    problems: list[Problem] = []
    seen: set[Path] = set()
    for index, rel in enumerate(files):
        at = f"{KEY}.{index}"
        path = inside(project_dir, rel)
        if path is None or path.suffix not in (".yaml", ".yml"):
            problems.append(Problem(at, "must be a .yaml file inside the project, as a relative path", rel))
            continue
        if path in seen:
            problems.append(Problem(at, "is listed twice", rel))
            continue
        seen.add(path)
        if not is_file(path):
            problems.append(Problem(at, "no such file in the project", rel))
            continue
        body, found = _read(path, at, rel)
        problems += found
        for name, spec in (body or {}).get("containers", {}).items():
            if name in merged:
                problems.append(Problem(f"containers.{name}", f"is defined in {origin[name]} and in {rel}", rel))
                continue
            merged[name] = spec
            origin[name] = rel
    if problems:
        raise FabricConfigError(problems)
    out["containers"] = merged
    return out
