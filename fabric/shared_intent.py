"""The shared file: what every site's stack takes from one place (images, policies, groups).

A stack per site keeps only the site's own values in its stack file (nodes, networks,
addresses, VMIDs, containers, credentials' references). What the sites share is written once,
in a file of the repository the stack file names::

    fabric:sharedFile: sites/shared.yaml    # {images: ..., policies: ..., groups: ..., ...}

The file may hold only ``SECTIONS``; each section it holds must not also be in the stack file
(one place per value: a reviewer sees which file governs it, and no site silently overrides the
shared policy). The path rules are those of intent files (relative, inside the project, a
``.yaml`` file, symlinks followed). Like intent files, it is read when the program runs, from the
checkout that runs it, and its sections then validate exactly as if the stack file held them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import FabricConfigError, InputError, Problem
from .repo_checks import inside, is_file
from .yaml_input import parse_yaml

KEY = "sharedFile"
SECTIONS = ("imageCatalog", "images", "policies", "groups", "connection")
"""What sites share: the image versions and catalog, the configuration policies, the replica
groups' rollout rules and how configuration reaches containers."""


def expand(raw: Mapping[str, Any], project_dir: Path) -> dict[str, Any]:
    """``raw`` with the shared file's sections joined in; ``sharedFile`` itself removed.

    Raises ``FabricConfigError`` naming an unusable file, an unknown section, or a section given
    in both the stack file and the shared file.
    """
    out = dict(raw)
    rel = out.pop(KEY, None)
    if rel is None:
        return out
    path = inside(project_dir, rel) if isinstance(rel, str) else None
    if path is None or path.suffix not in (".yaml", ".yml"):
        raise FabricConfigError([Problem(KEY, "must be a .yaml file inside the project, as a relative path", rel)])
    if not is_file(path):
        raise FabricConfigError([Problem(KEY, "no such file in the project", rel)])
    try:
        body = parse_yaml(path.read_text(encoding="utf-8"), rel)  # C loader, duplicate keys refused
    except (OSError, UnicodeDecodeError) as err:
        raise FabricConfigError(
            [Problem(KEY, f"cannot be read: {getattr(err, 'strerror', None) or err}", rel)]
        ) from None
    except InputError as err:
        raise FabricConfigError([Problem(KEY, str(err), rel)]) from None
    if not isinstance(body, dict) or not body:
        raise FabricConfigError([Problem(KEY, f"must be a mapping with some of {', '.join(SECTIONS)}", rel)])
    problems = [
        Problem(f"{rel}.{k}", f"may not be shared; the shared file holds only {', '.join(SECTIONS)}", None, False)
        for k in sorted(str(k) for k in body if k not in SECTIONS)
    ]
    problems += [
        Problem(k, f"is given in the stack file and in {rel}: keep it in one place", None, False)
        for k in SECTIONS
        if k in body and k in out
    ]
    # The sections that are not in conflict still join, so one conflict does not hide the
    # stack's other problems behind a cascade of "unknown policy" ones.
    out.update({k: v for k, v in body.items() if k in SECTIONS and k not in out})
    if problems:
        raise SharedFileError(problems, out)
    return out


class SharedFileError(FabricConfigError):
    """Problems with the shared file, and the config with what of it could still be joined."""

    def __init__(self, problems: list[Problem], joined: dict[str, Any]) -> None:
        super().__init__(problems)
        self.joined = joined
