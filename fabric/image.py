"""``Image``: one immutable LXC template version on a node's storage."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_proxmoxve import download

from .args import check, known, raise_problems
from .catalog import ImageBuild
from .errors import Problem
from .intent import FabricIntent, image_ref, parse_image_ref
from .tokens import IMAGE


@dataclass(frozen=True)
class ImageArgs:
    """Which catalogued build to place where.

    Follows the args style of Pulumi's component libraries (pulumi-eks' ``ClusterOptions``,
    nodejs/eks/cluster/cluster.ts): fields a caller may take from another resource are
    ``pulumi.Input``; ``validate()`` checks what is known before anything is registered.
    """

    family: str
    """Image family, e.g. ``debian12-base``."""
    build: ImageBuild
    """The catalog entry: its file name and sha256 are what Proxmox downloads and verifies."""
    node: pulumi.Input[str]
    """Proxmox node whose storage receives the template."""
    mirror_url: str
    """Base URL serving ``<family>/<file_name>``; the artifact store the build published to."""
    datastore: pulumi.Input[str] = "local"
    """Storage with ``vztmpl`` content enabled."""

    @property
    def url(self) -> str:
        """Where Proxmox downloads the artifact: ``<mirror_url>/<family>/<file_name>``."""
        return f"{self.mirror_url.rstrip('/')}/{self.family}/{self.build.file_name}"

    @property
    def identity(self) -> str:
        """Version and digest together: what dependent containers replace on."""
        return self.build.identity(self.family)

    def problems(self) -> list[Problem]:
        """Everything wrong with these args that can be known before a preview."""
        found = check("mirrorUrl", self.mirror_url, FabricIntent, "image_mirror")
        if parse_image_ref(image_ref(self.family, self.build.version)) is None:
            found.append(Problem("family", "must be lowercase letters, digits and '-'", self.family))
        for path, value in (("node", self.node), ("datastore", self.datastore)):
            if known(value) and not value:
                found.append(Problem(path, "must not be empty", value))
        return found

    def validate(self) -> ImageArgs:
        """Raise ``FabricConfigError`` naming every problem; return the args when there is none."""
        raise_problems(self.problems())
        return self


class Image(pulumi.ComponentResource):
    """A versioned template on Proxmox storage.

    The file name embeds the version and a changed file is never overwritten; Proxmox
    verifies the sha256 on download; removing the image from code leaves the file in place,
    so old versions stay available for rollback, and declaring it again adopts that file.
    """

    file_id: pulumi.Output[str]
    """Template volume id (``<datastore>:vztmpl/<file>``): what a container is created from."""
    version: pulumi.Output[str]
    """The catalogued version, e.g. ``1.2.0``."""
    sha256: pulumi.Output[str]
    """The artifact's digest, which Proxmox verified on download."""
    identity: pulumi.Output[str]
    """``family@version#sha256:...``: pass it to ``LxcContainerArgs.image_identity``."""

    def __init__(self, name: str, args: ImageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        args.validate()  # before anything is registered
        super().__init__(IMAGE, name, None, opts)
        self.args = args
        """The args the image was built from."""
        self.file = download.File(
            name,
            node_name=args.node,
            datastore_id=args.datastore,
            content_type="vztmpl",
            url=args.url,
            file_name=args.build.file_name,
            checksum=args.build.sha256,
            checksum_algorithm="sha256",
            overwrite=False,
            # A version removed from code stays on storage (retained); bringing it back, as a
            # rollback does, adopts that file again: same name, same verified sha256, same bytes.
            overwrite_unmanaged=True,
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
        )
        """The ``proxmoxve.download.File`` holding the template on the node's storage."""
        self.file_id = self.file.id
        self.version = pulumi.Output.from_input(args.build.version)
        self.sha256 = pulumi.Output.from_input(args.build.sha256)
        self.identity = pulumi.Output.from_input(args.identity)
        self.register_outputs(
            {"fileId": self.file_id, "version": self.version, "sha256": self.sha256, "identity": self.identity}
        )
