"""The errors the fabric raises for bad input, and the exit codes every operator command shares."""

from __future__ import annotations

import re
from dataclasses import dataclass

EXIT_OK = 0
"""Success: the input was usable and nothing was found (valid stack, no drift, no violation)."""
EXIT_FINDINGS = 1
"""The input was usable and the command found something: an invalid stack, drift, a violation."""
EXIT_UNUSABLE = 2
"""The command could not do its job: a missing or malformed input file, bad arguments, a tool that failed."""

# Values at these paths are never repeated back: a credential pasted in the wrong place, a
# private key where a public one belongs, a policy variable. Error messages end up in CI logs.
_SENSITIVE = re.compile(r"(?i)(token|passw|secret|private|credential|api.?key|sshkeys|\.vars\b|\bvars\.)")
HIDDEN = "value not shown"


class _Absent:
    def __repr__(self) -> str:
        return "ABSENT"


ABSENT = _Absent()
"""The value of a problem that has none (a required field that is missing)."""


def is_sensitive(path: str) -> bool:
    """True when a value found at ``path`` may be a credential and must not be echoed."""
    return bool(_SENSITIVE.search(path))


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the stack's intent: where it is, what it holds, what is wrong."""

    path: str
    """Where: the dotted field path in the stack intent or the args (``containers.db-1.vmid``)."""
    message: str
    """What is wrong, said so the operator knows how to fix it."""
    value: object = None
    """The offending value (not shown when ``shown`` is false, or when it may be a credential)."""
    shown: bool = True
    """False when the value must not be repeated (an unknown key's value may be anything)."""

    def __str__(self) -> str:
        if self.value is ABSENT:
            return f"{self.path}: {self.message}"
        if not self.shown or is_sensitive(self.path):
            return f"{self.path}: {self.message} ({HIDDEN})"
        if isinstance(self.value, dict | list | tuple | set):
            # A whole section may hold anything (a credential pasted a level too deep): name its type only.
            return f"{self.path}: {self.message} (got a {type(self.value).__name__})"
        shown = repr(self.value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        return f"{self.path}: {self.message} (got {shown})"


class FabricConfigError(ValueError):
    """The stack's intent is invalid; nothing was registered.

    Carries every problem found, so an operator fixes them in one pass.
    """

    def __init__(self, problems: list[Problem]):
        unique = {(p.path, p.message): p for p in problems}
        self.problems = sorted(unique.values(), key=lambda p: (p.path, p.message))
        """Every problem found, once each, sorted by path."""
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid fabric intent: {len(self.problems)} problem(s)\n{lines}")

    @property
    def paths(self) -> list[str]:
        """The field path of every problem, sorted (``containers.db-1.nic.address``, ...)."""
        return [p.path for p in self.problems]


class InputError(ValueError):
    """An input file is unusable (missing, not YAML/JSON, wrong shape).

    The message is one line naming the file and, where there is one, the field.
    """
