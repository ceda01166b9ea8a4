"""Tables a tier prints at the end of its session and, when asked, writes into a document."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path


def markdown_table(head: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A Markdown table of ``head`` and ``rows`` (each a row's cells, in order)."""
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def write_between(doc: Path, start: str, end: str, body: str) -> None:
    """Replace what stands between the markers ``start`` and ``end`` in ``doc`` with ``body``."""
    head, rest = doc.read_text().split(start, 1)
    _, tail = rest.split(end, 1)
    doc.write_text(f"{head}{start}\n{body}\n{end}{tail}")
