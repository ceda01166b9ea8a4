"""Reading, verifying and comparing built templates (``<family>_<version>_amd64.tar.zst``).

A template is a zstd-compressed tar of a root filesystem with entries ``./...`` (Proxmox's
vztmpl layout). Verification reads the whole tarball once and checks what every template of
this project must be: a Debian root with the stamp and sshd, no SSH host keys, an empty
machine-id, no logs, caches or package indexes, no device nodes, numeric owners only, no
mtime after the build time. ``diff_artifacts`` lists what differs between two builds
(the reproducibility report).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

STAMP_PATH = "./etc/samakia-image"
STAMP_KEYS = ("FAMILY", "VERSION", "BUILD_TIME", "GIT_COMMIT", "TEMPLATE_DIGEST", "BASE_SUITE", "MIRROR")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class Entry:
    """One tar member, with the content digest of regular files."""

    name: str
    kind: str  # file, dir, symlink, hardlink, char, block, fifo
    mode: int
    uid: int
    gid: int
    uname: str
    gname: str
    size: int
    mtime: float
    link: str = ""
    sha256: str = ""
    pax: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    def describe(self) -> str:
        extra = f" -> {self.link}" if self.link else ""
        return (
            f"{self.kind} {self.mode:04o} {self.uid}:{self.gid} size={self.size} "
            f"mtime={self.mtime:g}{extra} sha256={self.sha256[:12] or '-'}"
        )


_KINDS = {
    tarfile.REGTYPE: "file",
    tarfile.AREGTYPE: "file",
    tarfile.DIRTYPE: "dir",
    tarfile.SYMTYPE: "symlink",
    tarfile.LNKTYPE: "hardlink",
    tarfile.CHRTYPE: "char",
    tarfile.BLKTYPE: "block",
    tarfile.FIFOTYPE: "fifo",
}


def iter_entries(tarball: Path, *, contents: bool = True) -> Iterator[tuple[Entry, bytes | None]]:
    """Stream the members of a .tar.zst in archive order; small files' bytes come along."""
    proc = subprocess.Popen(["zstd", "-dcq", str(tarball)], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    try:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            for m in tar:
                digest, data = "", None
                if m.isreg() and contents:
                    f = tar.extractfile(m)
                    assert f is not None
                    h = hashlib.sha256()
                    small = m.size <= 64 * 1024
                    buf = bytearray()
                    while chunk := f.read(1 << 20):
                        h.update(chunk)
                        if small:
                            buf += chunk
                    digest = h.hexdigest()
                    data = bytes(buf) if small else None
                pax = tuple(sorted((k, str(v)) for k, v in m.pax_headers.items() if k not in ("path", "linkpath")))
                yield (
                    Entry(
                        name=m.name,
                        kind=_KINDS.get(m.type, f"type-{m.type!r}"),
                        mode=m.mode,
                        uid=m.uid,
                        gid=m.gid,
                        uname=m.uname,
                        gname=m.gname,
                        size=m.size,
                        mtime=float(m.mtime),
                        link=m.linkname,
                        sha256=digest,
                        pax=pax,
                    ),
                    data,
                )
    finally:
        proc.stdout.close()
        rc = proc.wait()
    if rc != 0:
        raise ValueError(f"{tarball}: zstd failed with exit code {rc} (corrupt or truncated)")


def tar_order(name: str) -> list[str]:
    """Sort key of ``tar --sort=name``: by path component, a directory before its contents."""
    return name.split("/")


def read_entries(tarball: Path) -> dict[str, Entry]:
    return {e.name: e for e, _ in iter_entries(tarball)}


def parse_stamp(text: str) -> dict[str, str]:
    out = {}
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            out[key] = value
    return out


@dataclass
class Inspection:
    """What verification learnt about a tarball."""

    names: list[str]
    stamp: dict[str, str]
    debian_version: str
    problems: list[str]


def inspect_artifact(tarball: Path, *, expect_stamp: dict[str, str], max_mtime: int | None = None) -> Inspection:
    """Read the tarball once and list every way it is not a valid template of this project."""
    problems: list[str] = []
    names: list[str] = []
    files: dict[str, bytes | None] = {}
    kinds: dict[str, str] = {}
    for entry, data in iter_entries(tarball):
        n = entry.name
        names.append(n)
        kinds[n] = entry.kind
        if n in (STAMP_PATH, "./etc/debian_version", "./etc/machine-id", "./etc/os-release"):
            files[n] = data
        if not (n == "." or n.startswith("./")):
            problems.append(f"entry {n!r} is not under ./ (vztmpl layout)")
        if entry.uname or entry.gname:
            problems.append(f"{n}: symbolic owner {entry.uname}:{entry.gname} (owners must be numeric)")
        if entry.kind in ("char", "block", "fifo"):
            problems.append(f"{n}: device node or fifo ({entry.kind}) in the template")
        if max_mtime is not None and entry.mtime > max_mtime:
            problems.append(f"{n}: mtime {entry.mtime:g} is after the build time {max_mtime}")
        if n.startswith("./etc/ssh/ssh_host_"):
            problems.append(f"{n}: SSH host key baked into the template")
        if entry.kind == "file":
            if n.startswith("./var/log/"):
                problems.append(f"{n}: log file in the template")
            if n.startswith("./var/lib/apt/lists/") and not n.endswith("/lock"):
                problems.append(f"{n}: apt package index in the template")
            if n.startswith("./var/cache/apt/"):
                problems.append(f"{n}: apt cache in the template")
            if n.endswith("-old") and n.startswith(("./var/lib/dpkg/", "./var/cache/debconf/")):
                problems.append(f"{n}: backup file in the template")
            if "/__pycache__/" in n:
                problems.append(f"{n}: compiled Python bytecode in the template")
            if n.startswith(("./root/.ssh/", "./home/")) or n.endswith("/authorized_keys"):
                problems.append(f"{n}: user data or SSH keys in the template")
    if names != sorted(names, key=tar_order):
        problems.append("tar entries are not sorted by name")
    for required in ("./usr/sbin/sshd", "./usr/bin/python3", "./usr/lib/systemd/systemd", STAMP_PATH):
        if required not in kinds:
            problems.append(f"{required} is missing")
    machine_id = files.get("./etc/machine-id")
    if machine_id is None:
        problems.append("./etc/machine-id is missing (systemd expects an empty file)")
    elif machine_id.strip():
        problems.append("./etc/machine-id is not empty: every container would share it")
    debian_version = (files.get("./etc/debian_version") or b"").decode().strip()
    if not debian_version:
        problems.append("./etc/debian_version is missing: not a Debian root")
    stamp = parse_stamp((files.get(STAMP_PATH) or b"").decode())
    for key in STAMP_KEYS:
        if key not in stamp:
            problems.append(f"stamp lacks {key}")
    for key, want in expect_stamp.items():
        if stamp.get(key) != want:
            problems.append(f"stamp {key}={stamp.get(key)!r}, expected {want!r}")
    return Inspection(names=names, stamp=stamp, debian_version=debian_version, problems=problems)


def read_packer_manifest(path: Path, file_name: str) -> tuple[int, str]:
    """(size, sha256) of ``file_name`` as the Packer manifest records it.

    The manifest lists the artifact and its ``.sha256`` file (written by Packer's checksum
    post-processor); the checksum is read from that file.
    """
    data = json.loads(path.read_text())
    last = data["last_run_uuid"]
    build = next(b for b in data["builds"] if b["packer_run_uuid"] == last)
    files = {f["name"]: f["size"] for f in build["files"]}
    if file_name not in files or f"{file_name}.sha256" not in files:
        raise ValueError(f"{path}: manifest lists {sorted(files)}, not {file_name} and its .sha256")
    sums = (path.parent / f"{file_name}.sha256").read_text().split()
    if len(sums) != 2 or sums[1] != file_name:
        raise ValueError(f"{path.parent / (file_name + '.sha256')}: unexpected content {sums!r}")
    return int(files[file_name]), sums[0]


def diff_artifacts(a: Path, b: Path, limit: int = 200) -> list[str]:
    """What differs between two templates, entry by entry (empty when the trees are equal)."""
    ea, eb = read_entries(a), read_entries(b)
    out = []
    for name in sorted(set(ea) | set(eb)):
        x, y = ea.get(name), eb.get(name)
        if x is None:
            out.append(f"only in {b.name}#2: {name}")
        elif y is None:
            out.append(f"only in {a.name}#1: {name}")
        elif x != y:
            fields = [
                f"{k}: {getattr(x, k)!r} != {getattr(y, k)!r}"
                for k in ("kind", "mode", "uid", "gid", "uname", "gname", "size", "mtime", "link", "sha256", "pax")
                if getattr(x, k) != getattr(y, k)
            ]
            out.append(f"{name}: " + "; ".join(fields))
    if list(ea) != sorted(ea, key=tar_order) or list(eb) != sorted(eb, key=tar_order):
        out.append("entry order differs from sorted order")
    if len(out) > limit:
        out = [*out[:limit], f"... and {len(out) - limit} more"]
    return out
