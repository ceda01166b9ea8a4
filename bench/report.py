"""Write one benchmark's section of docs/benchmarks.md, leaving the other sections as they are."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from fabric.paths import PROJECT_ROOT

DOC = PROJECT_ROOT / "docs" / "benchmarks.md"
HEADER = (
    "# Benchmarks\n\nFigures printed by `make bench` on the project's 2-core, 24 GiB machine; "
    "each section is rewritten by its own script.\n"
)


def write_section(title: str, body: str) -> None:
    text = DOC.read_text() if DOC.exists() else HEADER
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    section = f"## {title}\n\n_Measured {stamp}._\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    text = pattern.sub(lambda _: section + "\n", text) if pattern.search(text) else text.rstrip() + "\n\n" + section
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(text)
