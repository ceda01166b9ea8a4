"""``python -m ops.dist wheel|collection OUT_DIR``: build the wheel or the collection into OUT_DIR."""

from __future__ import annotations

import sys
from pathlib import Path

from ops.dist.collection import build_collection
from ops.dist.wheel import build_wheel

BUILDERS = {"wheel": build_wheel, "collection": build_collection}


def main(argv: list[str]) -> int:
    """Build what ``argv[0]`` names into ``argv[1]``; print the artifact's path."""
    if len(argv) != 2 or argv[0] not in BUILDERS:
        print(f"usage: python -m ops.dist {{{'|'.join(BUILDERS)}}} OUT_DIR", file=sys.stderr)
        return 2
    print(BUILDERS[argv[0]](Path(argv[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
