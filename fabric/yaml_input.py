"""Read the YAML files an operator writes (stack files, the image catalog, vars files) strictly.

Two things the stock ``yaml.safe_load`` gets wrong for intent files:

- a key given twice in one mapping silently keeps the last value, so a second container
  named like the first replaces it without a word. Here that is an error naming both lines;
- the pure-Python parser costs most of the time of a large stack (8.5 s of 10 s for 5000
  containers). The C parser (libyaml, ``yaml.CSafeLoader``) is used where PyYAML was built
  with it; the duplicate-key check lives in the constructor, which is Python code in both
  loaders, so it works the same with either.

Every failure is an ``InputError`` with one line: the file, the line and what is wrong.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import InputError

_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
C_LOADER = _BaseLoader is not yaml.SafeLoader
"""True when libyaml's parser is in use (PyYAML built with it)."""

_MERGE_TAG = "tag:yaml.org,2002:merge"


class DuplicateKeyError(yaml.MarkedYAMLError):
    """A mapping names the same key twice."""


class StrictLoader(_BaseLoader):  # type: ignore[misc, valid-type]
    """Safe loader that refuses duplicate mapping keys (merge keys ``<<`` aside)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: the stock constructor reports it
                continue
            line = key_node.start_mark.line + 1
            if first is not None:
                raise DuplicateKeyError(
                    problem=f"duplicate key {key!r} (first given at line {first}); a later one would silently win",
                    problem_mark=key_node.start_mark,
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)  # type: ignore[no-any-return]


def parse_yaml(text: str, source: str) -> Any:
    """Parse YAML text; ``source`` names it in errors (a file name, or ``ref:path``)."""
    try:
        return yaml.load(text, Loader=StrictLoader)  # noqa: S506 - StrictLoader is a SafeLoader
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        what = err.problem or err.context or "malformed"
        if isinstance(err, DuplicateKeyError):
            raise InputError(f"{where}: {what}") from None
        raise InputError(f"{where}: not valid YAML: {what}") from None
    except yaml.YAMLError as err:
        raise InputError(f"{source}: not valid YAML: {err}") from None


def read_yaml(path: str | Path, what: str = "file") -> Any:
    """Read and parse a YAML file; a missing or unreadable file is an ``InputError`` naming it."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{p}: {what} not found") from None
    except IsADirectoryError:
        raise InputError(f"{p}: {what} is a directory, not a file") from None
    except UnicodeDecodeError:
        raise InputError(f"{p}: {what} is not UTF-8 text") from None
    except OSError as err:
        raise InputError(f"{p}: {what} cannot be read: {err.strerror or err}") from None
    return parse_yaml(text, str(p))
