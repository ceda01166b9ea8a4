"""The rooms of the project and their import rule: a room imports only rooms below it.

Every Python module is parsed (``ast``, nothing is imported) and each import of a project
module is checked against the rank of the room it lands in. The same rule is written in each
room's package docstring; this test is what holds the code to it.
"""

from __future__ import annotations

import ast
from pathlib import Path

from .conftest import write_tree

ROOT = Path(__file__).resolve().parents[2]

# Rank, highest first. A module may import its own room or a room of strictly lower rank, so
# rooms of equal rank (bench and tests; fabric.testing and fabric.runtime) never import each other.
ROOMS: dict[str, int] = {
    "bench": 9,
    "tests": 9,
    "examples": 9,
    "policy": 8,
    "__main__": 8,  # the Pulumi program's entry point
    "ops.stack": 7,
    "ops.localpve": 6,
    "ops.images": 5,
    "ops.config": 4,
    "ops.dist": 4,  # the wheel, the collection, the API reference: fabric only
    "ops": 4,  # the package docstring only
    "providers": 3,
    "fabric.testing": 2,
    "fabric.runtime": 2,
    "fabric": 1,
    # The Ansible modules beside the playbooks (samakia.fabric): they run on the targets and
    # import nothing of the project.
    "playbooks": 0,
}
TOP_LEVEL = {name.split(".")[0] for name in ROOMS}
SKIP = {".venv", ".git", ".state", "build", "node_modules"}


def room_of(module: str) -> str | None:
    """The longest room prefix of a dotted module name, or None for a third-party module."""
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        prefix = ".".join(parts[:n])
        if prefix in ROOMS:
            return prefix
    return None


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(tree: ast.AST, module: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, absolute module) for every import in the tree, relative imports resolved."""
    package = module if is_package else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            # `from pkg import sub` may name a submodule: check the most specific name.
            found += [(node.lineno, f"{target}.{alias.name}") for alias in node.names]
    return found


def python_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if not SKIP & set(p.relative_to(root).parts))


def upward_imports(root: Path) -> list[str]:
    """Every import that goes up (or sideways) across the rooms, as ``file:line: a -> b``."""
    problems = []
    for path in python_files(root):
        module = module_name(path, root)
        source = room_of(module)
        if source is None:
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        for line, name in imported_modules(tree, module, path.name == "__init__.py"):
            if name.split(".")[0] not in TOP_LEVEL:
                continue
            target = room_of(name)
            if target is None or target == source:
                continue
            if ROOMS[target] >= ROOMS[source]:
                problems.append(f"{path.relative_to(root)}:{line}: {source} -> {target} ({name})")
    return problems


def test_no_module_imports_upward_across_the_rooms() -> None:
    assert upward_imports(ROOT) == []


def test_every_module_of_the_project_belongs_to_a_room() -> None:
    strays = [str(p.relative_to(ROOT)) for p in python_files(ROOT) if room_of(module_name(p, ROOT)) is None]
    assert strays == []


def test_the_check_catches_an_upward_import(tmp_path: Path) -> None:
    """A synthetic tree with one legal and three illegal imports: exactly the three are named."""
    files = {
        "fabric/__init__.py": "",
        "fabric/core.py": "from fabric.runtime import apply_policy\n",
        "fabric/runtime/__init__.py": "from . import ansible_run\nfrom fabric import core\n",
        "ops/__init__.py": "",
        "ops/images/__init__.py": "def f():\n    from ops.stack import cli\n",
        "bench/__init__.py": "import tests.harness\n",
    }
    write_tree(tmp_path, files)
    assert upward_imports(tmp_path) == [
        "bench/__init__.py:1: bench -> tests (tests.harness)",
        "fabric/core.py:1: fabric -> fabric.runtime (fabric.runtime.apply_policy)",
        "ops/images/__init__.py:2: ops.images -> ops.stack (ops.stack.cli)",
    ]


def test_every_room_says_what_it_may_import() -> None:
    for room in ROOMS:
        if room in {"__main__", "examples", "policy", "playbooks"}:  # playbooks: not a package; its README says it
            continue
        path = ROOT / room.replace(".", "/")
        file = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        doc = ast.get_docstring(ast.parse(file.read_text()))
        assert doc and ("import" in doc), f"{room}: its docstring must say what it may import"
