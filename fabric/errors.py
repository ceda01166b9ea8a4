"""The one error the fabric raises for bad intent."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the stack's intent: where it is, what it holds, what is wrong."""

    path: str
    message: str
    value: object = None

    def __str__(self) -> str:
        shown = repr(self.value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        return f"{self.path}: {self.message} (got {shown})"


class FabricConfigError(ValueError):
    """The stack's intent is invalid; nothing was registered.

    Carries every problem found, so an operator fixes them in one pass.
    """

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems, key=lambda p: (p.path, p.message))
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid fabric intent: {len(self.problems)} problem(s)\n{lines}")

    @property
    def paths(self) -> list[str]:
        return [p.path for p in self.problems]
