"""The API reference of the public surface, generated from the docstrings by pdoc.

The public surface is what a program composing the components imports: ``fabric`` (exactly its
``__all__``: the components, their args, the catalog, validation and the provider) and
``fabric.testing``. pdoc documents a module's ``__all__`` and nothing else, so the reference and
the surface are the same list.

The build fails, naming each one, when a public name has no docstring: the module, each name in
it, and each public member of a class that Samakia Fabric defines (fields, properties, methods;
what a class inherits from Pulumi or pydantic is theirs to document). A pydantic field's
``description`` is its docstring, as pdoc renders it.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pdoc
import pdoc.doc

PUBLIC = ("fabric", "fabric.testing")
"""The modules the reference documents."""


class UndocumentedError(RuntimeError):
    """Public names without a docstring; the reference was not written."""

    def __init__(self, names: list[str]) -> None:
        """Keep the names for the caller and list them in the message."""
        self.names = names
        super().__init__(f"{len(names)} public name(s) without a docstring:\n" + "\n".join(f"  - {n}" for n in names))


@contextmanager
def _quiet_annotations() -> Iterator[None]:
    # pdoc evaluates annotations to link them; ``pulumi.Input[...]`` names ``Output`` only under
    # TYPE_CHECKING in pulumi's own module, so pdoc warns and shows the annotation as written,
    # which is what the reader needs. Other warnings still show.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Error parsing type annotation", category=UserWarning)
        yield


def _resolve_exports(modules: tuple[str, ...]) -> None:
    # ``fabric`` exports its names lazily (PEP 562 ``__getattr__``, so apply-time commands skip
    # the Pulumi SDKs); pdoc looks names up in the module's namespace, so load each one first.
    for name in modules:
        module = importlib.import_module(name)
        for export in getattr(module, "__all__", ()):
            getattr(module, export)


def _documented(member: pdoc.doc.Doc) -> bool:  # type: ignore[type-arg]
    return bool((member.docstring or "").strip())


def undocumented(modules: tuple[str, ...] = PUBLIC) -> list[str]:
    """Every public name of ``modules`` (as pdoc sees them) that has no docstring."""
    missing: list[str] = []
    # Members inherited from other packages (Pulumi, pydantic) are documented there.
    own = {name.split(".")[0] for name in modules}
    _resolve_exports(modules)
    for name in modules:
        with _quiet_annotations():
            module = pdoc.doc.Module.from_name(name)
        if not _documented(module):
            missing.append(name)
        for member_name, member in module.members.items():
            if member_name.startswith("_") and member_name != "__version__":
                continue
            if not _documented(member):
                missing.append(f"{name}.{member_name}")
            if isinstance(member, pdoc.doc.Class):
                with _quiet_annotations():
                    members = member.members
                for attr, doc in members.items():
                    if attr.startswith("_") or doc.taken_from[0].split(".")[0] not in own:
                        continue
                    if not _documented(doc):
                        missing.append(f"{name}.{member_name}.{attr}")
    return missing


def build(out_dir: Path, modules: tuple[str, ...] = PUBLIC) -> Path:
    """Check the surface, then write the HTML reference into ``out_dir``; return its index."""
    missing = undocumented(modules)
    if missing:
        raise UndocumentedError(missing)
    out_dir.mkdir(parents=True, exist_ok=True)
    pdoc.render.configure(docformat="restructuredtext", show_source=False, search=False)
    with _quiet_annotations():
        pdoc.pdoc(*modules, output_directory=out_dir)
    return out_dir / "index.html"


def main(argv: list[str]) -> int:
    """``python -m ops.dist.api_reference OUT_DIR``: 0 built, 1 undocumented names (listed)."""
    out = Path(argv[0]) if argv else Path("build/api")
    try:
        index = build(out)
    except UndocumentedError as err:
        print(f"api reference: {err}", file=sys.stderr)
        return 1
    print(f"api reference: {index}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
