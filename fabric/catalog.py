"""The image catalog: one immutable entry per built template version.

The catalog is written by the image build (``make image``) and read by the stack
validation and the ``Image`` component, so the checksum Proxmox verifies on download is
the one the build produced.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import InputError
from .intent import image_ref
from .paths import CATALOG_FILE
from .yaml_input import parse_yaml, read_yaml

# A template file name lands in a Proxmox volume id (``storage:vztmpl/<name>``) and in the
# local artifact cache: one plain file name, never a path or an option string.
FILE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._+-]*\.tar\.(zst|gz|xz)$"


class ImageBuild(BaseModel):
    """One built, immutable version of an image family."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = Field(pattern=r"^\d+\.\d+\.\d+$", description="Semantic version; monotonic per family.")
    file_name: str = Field(
        pattern=FILE_NAME_PATTERN,
        max_length=255,
        description="Template file name on Proxmox storage: <family>_<version>_amd64.tar.zst (no path).",
    )
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="Digest of the artifact; Proxmox verifies it.")
    size: int = Field(gt=0, description="Artifact size in bytes.")
    sources: list[str] = Field(min_length=1, description="Where the base came from (mirror URLs, suite).")
    built_at: str = Field(description="UTC build time, ISO 8601.")
    git_commit: str = Field(
        description="Commit the image code came from: the last commit touching images/<family>/ "
        "('+dirty' appended for a dev build from modified code)."
    )
    base_suite: str = Field(description="Debian suite the image is based on.")
    template_digest: str | None = Field(
        default=None,
        pattern=r"^sha256:[0-9a-f]{64}$",
        description="Digest of the image code (images/<family>/) the artifact was built from; also stamped.",
    )

    dev: Literal[True] | None = Field(
        default=None,
        description="Built from image code that differs from its commit (--dev): for local use only; "
        "the catalog check refuses such an entry.",
    )

    def identity(self, family: str) -> str:
        """``family@version#sha256:<digest>``: what a container built from this template replaces on.

        The one definition of the image identity: version and digest together, so a rebuilt
        artifact under the same version (which the catalog forbids anyway) could not go unnoticed.
        """
        return f"{image_ref(family, self.version)}#sha256:{self.sha256}"


class Catalog(BaseModel):
    """All image families and their built versions, oldest first."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    families: dict[str, list[ImageBuild]] = Field(default_factory=dict)
    """Family name -> its built versions, oldest first."""

    @field_validator("families")
    @classmethod
    def _one_entry_per_version(cls, families: dict[str, list[ImageBuild]]) -> dict[str, list[ImageBuild]]:
        # Two entries for one version (say with different checksums) would make ``find``
        # answer with whichever comes first: refuse the catalog instead.
        for family, builds in families.items():
            seen: set[str] = set()
            for build in builds:
                if build.version in seen:
                    raise ValueError(f"family '{family}' lists version {build.version} more than once")
                seen.add(build.version)
        return families

    def find(self, family: str, version: str) -> ImageBuild | None:
        """The build of ``family`` at ``version``, or None when it is not catalogued."""
        for build in self.families.get(family, []):
            if build.version == version:
                return build
        return None

    def versions(self, family: str) -> list[str]:
        """The catalogued versions of ``family``, oldest first (empty for an unknown family)."""
        return [build.version for build in self.families.get(family, [])]

    def latest(self, family: str) -> ImageBuild | None:
        """The newest build of ``family``, or None when it has none."""
        builds = self.families.get(family, [])
        return builds[-1] if builds else None

    def with_build(self, family: str, build: ImageBuild) -> Catalog:
        """A new catalog with ``build`` appended to ``family`` (existing entries untouched)."""
        families = {name: list(builds) for name, builds in self.families.items()}
        families.setdefault(family, []).append(build)
        return Catalog(families=families)


CATALOG_HEADER = """\
# Image catalog: one entry per built template version, oldest first, per family.
# Written by `make image FAMILY=... VERSION=...` (ops/images/build.py); never edit an entry by hand.
# Entries are immutable: `make catalog-check` (part of lint and PR validation) fails when an
# existing entry is changed or removed compared to the target branch. Old versions are retained.
# The one exception: git_commit may be corrected to a commit that holds the entry's template
# digest when the recorded one does not (docs/images.md, "Provenance").
"""


def version_key(version: str) -> tuple[int, ...]:
    """Sort key of a MAJOR.MINOR.PATCH version."""
    return tuple(int(part) for part in version.split("."))


def dump_catalog(catalog: Catalog) -> str:
    """The catalog as YAML, in a stable layout (field order of the model, no reflow)."""
    data = catalog.model_dump(mode="json", exclude_none=True)
    body = yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=1000)
    return CATALOG_HEADER + body


def save_catalog(catalog: Catalog, path: str | Path) -> None:
    """Write the catalog atomically (a reader never sees a half-written file)."""
    p = Path(path)
    tmp = p.with_name(f".{p.name}.tmp")
    tmp.write_text(dump_catalog(catalog))
    tmp.replace(p)


def parse_catalog(text: str, source: str) -> Catalog:
    """A catalog from YAML text; ``InputError`` naming ``source`` and the field when malformed."""
    return catalog_from_data(parse_yaml(text, source), source)


def catalog_from_data(data: object, source: str) -> Catalog:
    """Validate parsed catalog data; ``InputError`` naming ``source`` and the first bad field."""
    if data is None:
        data = {}
    try:
        return Catalog.model_validate(data)
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "<top level>"
        more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
        message = first["msg"].removeprefix("Value error, ")
        raise InputError(f"{source}: {where}: {message}{more}") from None


def load_catalog(path: str | Path, *, missing_ok: bool = True) -> Catalog:
    """Read a catalog file. A missing file is an empty catalog when ``missing_ok`` (a first build).

    Raises ``InputError`` (one line: the file, the field) when it is malformed, has a duplicate
    key or version, or is missing and ``missing_ok`` is false.
    """
    p = Path(path)
    if missing_ok and not p.exists():
        return Catalog()
    return catalog_from_data(read_yaml(p, "image catalog"), str(p))


def shipped_catalog() -> Catalog:
    """The image catalog released with this version of the package (``fabric.paths.CATALOG_FILE``).

    Found beside the package, never relative to the working directory, so a program outside the
    repository reads the same catalog; a program with its own images names its catalog with
    ``load_catalog(path)`` instead.
    """
    return load_catalog(CATALOG_FILE, missing_ok=False)
