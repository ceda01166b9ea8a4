"""The image catalog: one immutable entry per built template version.

The catalog is written by the image build (``make image``) and read by the stack
validation and the ``Image`` component, so the checksum Proxmox verifies on download is
the one the build produced.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field


class ImageBuild(BaseModel):
    """One built, immutable version of an image family."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = Field(pattern=r"^\d+\.\d+\.\d+$", description="Semantic version; monotonic per family.")
    file_name: str = Field(description="Template file name on Proxmox storage: <family>_<version>_amd64.tar.zst.")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="Digest of the artifact; Proxmox verifies it.")
    size: int = Field(gt=0, description="Artifact size in bytes.")
    sources: list[str] = Field(min_length=1, description="Where the base came from (mirror URLs, suite).")
    built_at: str = Field(description="UTC build time, ISO 8601.")
    git_commit: str = Field(description="Commit of the image code the artifact was built from.")
    base_suite: str = Field(description="Debian suite the image is based on.")


class Catalog(BaseModel):
    """All image families and their built versions, oldest first."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    families: dict[str, list[ImageBuild]] = Field(default_factory=dict)

    def find(self, family: str, version: str) -> ImageBuild | None:
        for build in self.families.get(family, []):
            if build.version == version:
                return build
        return None

    def versions(self, family: str) -> list[str]:
        return [build.version for build in self.families.get(family, [])]


def load_catalog(path: str | Path) -> Catalog:
    """Read a catalog file; a missing file is an empty catalog."""
    p = Path(path)
    if not p.exists():
        return Catalog()
    data = yaml.safe_load(p.read_text()) or {}
    return Catalog.model_validate(data)
