"""Drive a stack with the real Pulumi engine: the local fabric by default, a real Proxmox when selected.

    python -m ops.fabric up --stack local       # the main job: images, fake Proxmox, preview, up
    python -m ops.fabric preview --stack prod   # a PR check against the real cluster

For the ``local`` stack this starts everything the fabric needs on loopback (the template
mirror and the local Proxmox), keeps state under ``.state/`` (ignored by Git), and stops it
all afterwards. Secrets the local fabric needs are generated once into ``.state/`` with mode
0600 and reach Pulumi and the fake through the environment, never through argv.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fabric.intent import parse_image_ref
from fabric.stack_file import read_stack_file

ROOT = Path(__file__).resolve().parents[1]
LOCAL_STACKS = ("local",)


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


@dataclass
class Workspace:
    """Where a stack runs: the project directory and the environment Pulumi gets."""

    project_dir: Path
    stack: str
    env: dict[str, str]
    config_file: Path | None = None
    """Where Pulumi reads and writes the stack's config, when not the committed stack file."""

    def pulumi(self, *args: str, check: bool = True, capture: bool = False) -> subprocess.CompletedProcess[str]:
        cmd = ["pulumi", *args, "--stack", self.stack, "--non-interactive"]
        if self.config_file is not None and args[0] != "stack":  # `stack` commands read no config
            cmd += ["--config-file", str(self.config_file)]
        result = subprocess.run(cmd, cwd=self.project_dir, env=self.env, text=True, capture_output=capture, check=False)
        if check and result.returncode != 0:
            detail = (result.stdout or "")[-2000:] + (result.stderr or "")[-2000:] if capture else ""
            raise SystemExit(f"pulumi {args[0]} failed (exit {result.returncode}){': ' + detail if detail else ''}")
        return result

    def _stack_cmd(self, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        cmd = ["pulumi", "stack", *args, self.stack, "--non-interactive"]
        return subprocess.run(cmd, cwd=cwd, env=self.env, text=True, capture_output=True, check=False)

    def ensure_stack(self) -> None:
        if self._stack_cmd("select", cwd=self.project_dir).returncode == 0:
            return
        if self.config_file is None:
            result = self._stack_cmd("init", cwd=self.project_dir)
        else:
            # `stack init` writes the new passphrase salt into the stack file it finds: let it
            # find a scratch one, and carry the salt into the working copy.
            with tempfile.TemporaryDirectory() as scratch:
                shutil.copy(self.project_dir / "Pulumi.yaml", scratch)
                result = self._stack_cmd("init", cwd=Path(scratch))
                made = Path(scratch) / f"Pulumi.{self.stack}.yaml"
                salt = (
                    [ln for ln in made.read_text().splitlines() if ln.startswith("encryptionsalt:")]
                    if made.exists()
                    else []
                )
                if salt:
                    with self.config_file.open("a") as fh:
                        fh.write(salt[0] + "\n")
        if result.returncode != 0:
            raise SystemExit(f"pulumi stack init {self.stack} failed: {result.stderr.strip()}")

    def outputs(self) -> dict[str, Any]:
        out = self.pulumi("stack", "output", "--json", capture=True).stdout
        return dict(json.loads(out or "{}"))


def local_images(project_dir: Path, stack: str) -> list[tuple[str, str]]:
    """The (family, version) pairs a local stack file references."""
    raw, _ = read_stack_file(project_dir / f"Pulumi.{stack}.yaml")
    refs = [parse_image_ref(ref) for ref in (raw.get("images") or {}).values()]
    return sorted({r for r in refs if r is not None})


def ensure_local_images(
    project_dir: Path, stack: str, mirror: Path, extra: list[tuple[str, str]] | None = None
) -> Path:
    """Build (or find, cached) every image version the local stack uses, and lay out its mirror.

    Local builds are cached by the digest of the image code, apart from the release cache, so
    changing the image code rebuilds them instead of conflicting with a released artifact. The
    local catalog is derived data (ignored by Git), written afresh from those builds each time.
    """
    from ops.build_image import build_image
    from ops.image_inputs import build_inputs, cache_root

    raw, _ = read_stack_file(project_dir / f"Pulumi.{stack}.yaml")
    catalog = project_dir / str(raw.get("imageCatalog", "images/catalog.local.yaml"))
    catalog.unlink(missing_ok=True)
    wanted = set(local_images(project_dir, stack) + (extra or []))
    for family, version in sorted(wanted, key=lambda fv: (fv[0], tuple(int(p) for p in fv[1].split(".")))):
        digest = build_inputs(family, version).digest.removeprefix("sha256:")[:16]
        cache = cache_root() / "images-local" / family / digest
        entry = build_image(family, version, catalog, cache_dir=cache)
        link = mirror / family / entry.file_name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.unlink(missing_ok=True)
        link.symlink_to(cache / entry.file_name)
    return catalog


def base_env(project_dir: Path, state_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("PULUMI_BACKEND_URL", f"file://{state_dir / 'pulumi'}")
    env.setdefault("PULUMI_CONFIG_PASSPHRASE", _state_secret(state_dir / "passphrase"))
    env["PULUMI_SKIP_UPDATE_CHECK"] = "true"
    env["PYTHONUNBUFFERED"] = "1"
    (state_dir / "pulumi").mkdir(parents=True, exist_ok=True)
    return env


def working_config(project_dir: Path, stack: str, state: Path) -> Path:
    """A working copy of the committed stack file under ``.state``.

    Pulumi writes into the config file it uses (the passphrase's salt, normalised values);
    that salt belongs to this checkout's generated passphrase, so it must never reach Git.
    The copy takes the committed intent afresh on every run and keeps only its own salt.
    """
    committed = project_dir / f"Pulumi.{stack}.yaml"
    working = state / "stacks" / committed.name
    salt = ""
    if working.exists():
        salt = next((line for line in working.read_text().splitlines() if line.startswith("encryptionsalt:")), "")
    working.parent.mkdir(parents=True, exist_ok=True)
    working.write_text(committed.read_text().rstrip("\n") + "\n" + (salt + "\n" if salt else ""))
    return working


@contextlib.contextmanager
def local_fabric(
    project_dir: Path,
    stack: str = "local",
    state_dir: Path | None = None,
    pve_host: str = "127.0.0.2",
    mirror_port: int = 8099,
) -> Iterator[tuple[Workspace, Any]]:
    """Start the mirror and the local Proxmox; yield the workspace and the running fake."""
    from ops.local_pve import RunningPve

    state = state_dir or project_dir / ".state"
    env = base_env(project_dir, state)
    password = _state_secret(state / "pve" / "password")
    env["SAMAKIA_PVE_PASSWORD"] = password
    with serve_directory(state / "mirror", "127.0.0.1", mirror_port):
        pve = RunningPve(state / "pve", host=pve_host, password=password).start()
        try:
            bundle = state / "pve" / "ca-bundle.pem"
            system = Path(os.environ.get("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt"))
            bundle.write_text(system.read_text() + "\n" + pve.cafile.read_text())
            env["SSL_CERT_FILE"] = str(bundle)  # the provider trusts the fake's CA, nothing is skipped
            ws = Workspace(project_dir, stack, env, working_config(project_dir, stack, state))
            ws.ensure_stack()
            yield ws, pve
        finally:
            pve.stop()


def drift_check(ws: Workspace) -> int:
    """Refresh and expect no changes; print what drifted. Non-zero on drift."""
    result = ws.pulumi("preview", "--refresh", "--expect-no-changes", "--json", check=False, capture=True)
    drifted = [s for s in _steps(result.stdout) if s.get("op") not in ("same", "read", "refresh")]
    for step in drifted:
        print(f"DRIFT: {step['op']} {step['urn'].rsplit('::', 1)[-1]} ({', '.join(step.get('diffReasons') or [])})")
    if result.returncode != 0 and not drifted:
        sys.stderr.write(result.stderr[-3000:])
    print("infrastructure drift: none" if result.returncode == 0 else f"infrastructure drift: {len(drifted)} change(s)")
    return result.returncode


POLICY_COMMAND = "command:local:Command"


def policy_requests(ws: Workspace) -> dict[str, dict[str, Any]]:
    """The request each applied config policy ran with, read back from the stack's state."""
    state = json.loads(ws.pulumi("stack", "export", capture=True).stdout)
    requests = {}
    for res in state.get("deployment", {}).get("resources") or []:
        if res.get("type") == POLICY_COMMAND and "samakia:fabric:ConfigPolicy" in res.get("parent", ""):
            stdin = (res.get("inputs") or {}).get("stdin")
            if isinstance(stdin, str):
                requests[res["urn"].rsplit("::", 1)[-1]] = json.loads(stdin)
    return requests


def config_drift_check(ws: Workspace, only: list[str] | None = None) -> int:
    """Ansible check mode on every configured container (or ``only`` those policies).

    Names each task that would change; non-zero on any drift. Containers are checked in parallel.
    """
    from ops.ansible_run import AnsibleRunError, Recap
    from ops.apply_policy import run

    requests = {n: r for n, r in policy_requests(ws).items() if only is None or n in only}
    if only and set(only) - set(requests):
        print(f"ERROR: no applied config policy named {', '.join(sorted(set(only) - set(requests)))}")
        return 2
    if not requests:
        print("configuration drift: no applied config policy in this stack")
        return 0

    def check(request: dict[str, Any]) -> Recap | str:
        try:
            return run(request, check=True, base=ws.project_dir)
        except AnsibleRunError as err:
            return str(err)

    with ThreadPoolExecutor(max_workers=min(4, len(requests))) as pool:
        recaps = dict(zip(requests, pool.map(check, requests.values()), strict=True))
    drifted = 0
    for name, recap in sorted(recaps.items()):
        if isinstance(recap, str):
            print(f"ERROR: {name}: {recap}")
            drifted += 1
            continue
        if not recap.succeeded:
            detail = "\n".join(m for h in recap.hosts.values() for m in h.messages) or recap.stderr_tail
            print(f"ERROR: {name}: check run failed\n{recap.summary()}\n{detail}")
            drifted += 1
            continue
        for task in recap.changed_tasks:
            print(f"DRIFT: {name}: {task.describe()}")
        drifted += bool(recap.changed)
    print("configuration drift: none" if not drifted else f"configuration drift: {drifted} container(s)")
    return 1 if drifted else 0


def _steps(preview_json: str) -> list[dict[str, Any]]:
    try:
        return list(json.loads(preview_json or "{}").get("steps", []))
    except ValueError:
        return []


def run_action(ws: Workspace, action: str) -> int:
    if action == "preview":
        return ws.pulumi("preview", "--diff", check=False).returncode
    if action == "up":
        ws.pulumi("preview", "--diff")
        ws.pulumi("up", "--yes", "--skip-preview")
        print(json.dumps(ws.outputs(), indent=2, sort_keys=True))
        return 0
    if action == "down":
        return ws.pulumi("destroy", "--yes", check=False).returncode
    if action == "drift":
        return drift_check(ws)
    if action == "drift-config":
        return config_drift_check(ws)
    if action == "outputs":
        print(json.dumps(ws.outputs(), indent=2, sort_keys=True))
        return 0
    raise SystemExit(f"unknown action {action}")


def main(argv: list[str] | None = None, environ: Mapping[str, str] = os.environ) -> int:
    parser = argparse.ArgumentParser(description="Drive a Samakia Fabric stack with the real engine.")
    parser.add_argument("action", choices=["preview", "up", "down", "drift", "drift-config", "outputs"])
    parser.add_argument("--stack", default=environ.get("STACK", "local"))
    args = parser.parse_args(argv)
    if args.stack in LOCAL_STACKS:
        if args.action in ("preview", "up"):
            ensure_local_images(ROOT, args.stack, ROOT / ".state" / "mirror")
        with local_fabric(ROOT, args.stack) as (ws, _):
            return run_action(ws, args.action)
    # A real cluster: the operator's (or CI's) backend, passphrase and credentials apply.
    ws = Workspace(ROOT, args.stack, dict(environ))
    return run_action(ws, args.action)


if __name__ == "__main__":
    sys.exit(main())
