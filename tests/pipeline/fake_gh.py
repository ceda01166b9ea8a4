"""A stand-in for the gh CLI with the GitHub state in a JSON file, for testing the CI scripts offline.

It understands exactly the gh calls scripts/ci/*.sh make, records every call, and fails loudly on
anything else, so a script that starts calling gh differently fails its test.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any


def _opt(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def _quoted(expr: str, after: str) -> str:
    match = re.search(re.escape(after) + r'"((?:[^"\\]|\\.)*)"', expr)
    if not match:
        raise SystemExit(f"fake gh: cannot read {after!r} in {expr!r}")
    return match.group(1)


def main(argv: list[str]) -> int:
    path = Path(os.environ["FAKE_GH_STATE"])
    state: dict[str, Any] = json.loads(path.read_text())
    state.setdefault("calls", []).append(argv)
    out = ""
    try:
        if argv[:2] == ["pr", "comment"]:
            body = Path(_opt(argv, "--body-file")).read_text()
            state["comments"].append({"id": 1000 + len(state["comments"]), "body": body})
        elif argv[0] == "api" and "--method" in argv and _opt(argv, "--method") == "PATCH":
            cid = int(argv[argv.index("--method") + 2].rsplit("/", 1)[-1])
            body = Path(_opt(argv, "-F").removeprefix("body=@")).read_text()
            next(c for c in state["comments"] if c["id"] == cid)["body"] = body
        elif argv[0] == "api" and argv[1].endswith("/comments"):
            start = _quoted(_opt(argv, "--jq"), "startswith(")
            out = "\n".join(str(c["id"]) for c in state["comments"] if c["body"].startswith(start))
        elif argv[0] == "api" and "/actions/artifacts?name=" in argv[1]:
            name = argv[1].split("name=", 1)[1]
            out = str(state["artifacts"][name]["run"]) if name in state.get("artifacts", {}) else ""
        elif argv[:2] == ["run", "download"]:
            name = _opt(argv, "--name")
            art = state["artifacts"][name]
            assert str(art["run"]) == argv[2], "downloaded from another run"
            shutil.copytree(art["dir"], _opt(argv, "--dir"), dirs_exist_ok=True)
        elif argv[:2] == ["label", "create"]:
            pass
        elif argv[:2] == ["issue", "list"]:
            title = _quoted(_opt(argv, "--jq"), ".title == ")
            out = "\n".join(str(i["number"]) for i in state["issues"] if i["state"] == "open" and i["title"] == title)
        elif argv[:2] == ["issue", "create"]:
            number = len(state["issues"]) + 1
            body = Path(_opt(argv, "--body-file")).read_text()
            issue = {"number": number, "title": _opt(argv, "--title"), "body": body, "state": "open", "comments": []}
            state["issues"].append(issue)
        elif argv[:2] == ["issue", "edit"]:
            issue = next(i for i in state["issues"] if i["number"] == int(argv[2]))
            issue["body"] = Path(_opt(argv, "--body-file")).read_text()
        elif argv[:2] == ["issue", "comment"]:
            next(i for i in state["issues"] if i["number"] == int(argv[2]))["comments"].append(_opt(argv, "--body"))
        elif argv[:2] == ["issue", "close"]:
            issue = next(i for i in state["issues"] if i["number"] == int(argv[2]))
            issue["state"] = "closed"
            issue["comments"].append(_opt(argv, "--comment"))
        else:
            sys.stderr.write(f"fake gh: unexpected call {argv}\n")
            return 2
    finally:
        path.write_text(json.dumps(state))
    if out:
        print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
