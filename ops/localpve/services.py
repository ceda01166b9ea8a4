"""The local fabric's services: the template mirror, the local Proxmox, local images.

The API servers run on loopback; the containers are real LXC containers on host bridges that
the fabric creates for the stack's networks (gateway address on the bridge, no forwarding),
where a package mirror answers on the gateway address. State, generated secrets (the PVE
password, the Pulumi passphrase, the SSH key the configuration logs in with) and Pulumi's
working copy of the stack file live under ``.state/`` (ignored by Git) with mode 0600 where
secret, and reach Pulumi and the fake through the environment, never through argv.

Containers and bridges outlive one command (``make up`` leaves the fabric running, as a real
node would); ``local_fabric(..., teardown=True)`` and ``make down`` remove them.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import secrets
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from fabric import shared_intent
from fabric.catalog import version_key
from fabric.intent import parse_image_ref
from fabric.stack_file import read_stack_file

SSH_KEY_ENV = "SAMAKIA_SSH_KEY_FILE"
CHAOS_ENV = "SAMAKIA_PVE_CHAOS"
"""A JSON chaos schedule (``ops.localpve.chaos_schedule``) the local Proxmox starts with; unset: none."""


def start_chaos_from(pve: Any, environ: Any) -> None:
    """Put the schedule ``SAMAKIA_PVE_CHAOS`` holds in force on a started local Proxmox (off when unset)."""
    raw = environ.get(CHAOS_ENV)
    if not raw:
        return
    from ops.localpve.chaos_schedule import ChaosSchedule

    schedule = ChaosSchedule.from_json(raw)
    pve.call(lambda: pve.pve.start_chaos(schedule))
    print(f"local Proxmox: chaos schedule in force ({CHAOS_ENV}): {schedule.to_json()}", flush=True)


def _state_secret(path: Path, nbytes: int = 24) -> str:
    """A secret generated once per checkout and kept beside the state it protects."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(nbytes))
    return path.read_text().strip()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serve_directory(root: Path, host: str, port: int) -> Iterator[str]:
    """A read-only HTTP mirror of ``root`` on loopback, for as long as the block runs."""
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer((host, port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.shutdown()
        server.server_close()


def _with_shared(project_dir: Path, stack: str) -> dict[str, Any]:
    """The stack file's ``fabric:`` keys with its shared file's sections (a site's images and catalog
    may live there: ``fabric.shared_intent``)."""
    raw, _ = read_stack_file(project_dir / f"Pulumi.{stack}.yaml")
    return shared_intent.expand(raw, project_dir)


def local_images(project_dir: Path, stack: str) -> list[tuple[str, str]]:
    """The (family, version) pairs a local stack file references."""
    raw = _with_shared(project_dir, stack)
    refs = [parse_image_ref(ref) for ref in (raw.get("images") or {}).values()]
    return sorted({r for r in refs if r is not None})


def ensure_local_images(
    project_dir: Path, stack: str, mirror: Path, extra: list[tuple[str, str]] | None = None
) -> Path:
    """Build (or find, cached) every image version the local stack uses, and lay out its mirror.

    Local builds are cached by the digest of the image code, apart from the release cache, so
    changing the image code rebuilds them instead of conflicting with a released artifact. The
    local catalog is derived data (ignored by Git), written afresh from those builds each time;
    its entries are dev-only, built from whatever image code the checkout holds.
    """
    raw = _with_shared(project_dir, stack)
    catalog = project_dir / str(raw.get("imageCatalog", "images/catalog.local.yaml"))
    catalog.unlink(missing_ok=True)
    wanted = set(local_images(project_dir, stack) + (extra or []))
    for family, version in sorted(wanted, key=lambda fv: (fv[0], version_key(fv[1]))):
        artifact = local_build(family, version, catalog)
        link = mirror / family / artifact.name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.unlink(missing_ok=True)
        link.symlink_to(artifact)
    return catalog


def local_build(family: str, version: str, catalog: Path, images_dir: Path | None = None) -> Path:
    """A dev build of ``family`` ``version`` from the image code in ``images_dir`` (default: this
    checkout's), cached by that code's digest; appended to ``catalog``. Returns the template file."""
    from fabric.paths import cache_root
    from ops.images.build import build_image
    from ops.images.inputs import IMAGES_DIR, build_inputs

    images = images_dir or IMAGES_DIR
    digest = build_inputs(family, version, images_dir=images).digest.removeprefix("sha256:")[:16]
    cache = cache_root() / "images-local" / family / digest
    entry = build_image(family, version, catalog, cache_dir=cache, dev=True, images_dir=images)
    return cache / entry.file_name


def base_env(project_dir: Path, state_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("PULUMI_BACKEND_URL", f"file://{state_dir / 'pulumi'}")
    env.setdefault("PULUMI_CONFIG_PASSPHRASE", _state_secret(state_dir / "passphrase"))
    env["PULUMI_SKIP_UPDATE_CHECK"] = "true"
    env["PYTHONUNBUFFERED"] = "1"
    (state_dir / "pulumi").mkdir(parents=True, exist_ok=True)
    return env


def ssh_key(state: Path) -> tuple[Path, str]:
    """The local fabric's SSH key pair, generated once per checkout: (private key path, public key)."""
    key = state / "ssh" / "id_ed25519"
    if not key.exists():
        key.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "samakia-local-fabric", "-f", str(key)],
            check=True,
            capture_output=True,
        )
    return key, key.with_suffix(".pub").read_text().strip()


def stack_networks(
    project_dir: Path, stack: str, rewrite: Callable[[str], str] | None = None
) -> dict[str, dict[str, Any]]:
    """The stack file's networks (moved by ``rewrite``, a lane-aware local stack's)."""
    raw, _ = read_stack_file(project_dir / f"Pulumi.{stack}.yaml")
    networks = dict(raw.get("networks") or {})
    return dict(json.loads(rewrite(json.dumps(networks)))) if rewrite else networks


@contextlib.contextmanager
def local_services(
    project_dir: Path,
    state_dir: Path | None = None,
    pve_host: str = "127.0.0.2",
    mirror_port: int = 8099,
    *,
    stack: str = "local",
    containers: bool = True,
    teardown: bool = False,
    lxc_tag: str = "",
    rewrite: Callable[[str], str] | None = None,
) -> Iterator[tuple[dict[str, str], Any]]:
    """Start the mirrors, the bridges and the local Proxmox; yield the environment Pulumi gets and the fake.

    With ``containers`` (the default) the local Proxmox runs real LXC containers on bridges made
    for the stack's networks; without, it keeps containers as API records only (the engine
    benchmark's thousand-container stacks); ``lxc_tag`` marks its containers' and bridges' names
    (see ``instance_prefix``; the test tiers put their lane in it). With ``teardown`` every
    container and bridge of this instance is removed on the way out, also when the block fails
    (the test tiers use it).
    """
    from fabric.paths import cache_root
    from ops.localpve.lxc import LxcNode
    from ops.localpve.package_mirror import serve_package_mirror
    from ops.localpve.server import RunningPve

    state = state_dir or project_dir / ".state"
    env = base_env(project_dir, state)
    password = _state_secret(state / "pve" / "password")
    env["SAMAKIA_PVE_PASSWORD"] = password  # the local Proxmox's root@pam password
    # ... and the same credential where the provider reads it (never a provider input, so never in state)
    env["PROXMOX_VE_PASSWORD"] = password
    env.pop("PROXMOX_VE_API_TOKEN", None)  # a token from the caller's shell (or a test) is not this fabric's
    key, _ = ssh_key(state)
    env[SSH_KEY_ENV] = str(key)
    pve = RunningPve(state / "pve", host=pve_host, password=password, containers=containers, lxc_tag=lxc_tag)
    lxc = pve.pve.lxc
    if lxc is not None:
        LxcNode.cleanup_stale()
        lxc.claim(ephemeral=teardown)
    try:
        with contextlib.ExitStack() as services:
            services.enter_context(serve_directory(state / "mirror", "127.0.0.1", mirror_port))
            if lxc is not None:
                gateways = []
                for net in stack_networks(project_dir, stack, rewrite).values():
                    bridge = str(net.get("bridge", "vmbr0"))
                    pve.pve.bridges[bridge] = lxc.ensure_bridge(bridge, str(net["gateway"]), str(net["cidr"]))
                    gateways.append(str(net["gateway"]))
                services.enter_context(serve_package_mirror(gateways, cache_root() / "apt-mirror"))
            pve.start()
            start_chaos_from(pve, os.environ)
            try:
                bundle = state / "pve" / "ca-bundle.pem"
                system = Path(os.environ.get("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt"))
                bundle.write_text(system.read_text() + "\n" + pve.cafile.read_text())
                env["SSL_CERT_FILE"] = str(bundle)  # the provider trusts the fake's CA, nothing is skipped
                yield env, pve
            finally:
                pve.stop()
    finally:
        if teardown:
            pve.pve.teardown()
            pve.save()
        if lxc is not None:
            lxc.release()
