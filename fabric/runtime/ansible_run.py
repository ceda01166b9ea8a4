"""Run the Samakia Fabric playbooks and read their outcome from Ansible's own recap.

This is the one place that starts ``ansible-playbook``. ConfigPolicy's command, the
configuration drift check (``python -m ops.stack drift-config``) and the playbook test tier all go
through :func:`run_playbook`, which:

* writes a per-run inventory with exactly the given targets (a chroot root path driven by
  ``community.general.chroot``, or an SSH host);
* passes extra variables through a private ``0600`` file (``-e @file``), never on the command
  line, because they may hold secrets;
* points ``ANSIBLE_CONFIG`` at ``playbooks/ansible.cfg`` explicitly (Ansible ignores a config
  file in a world-writable working directory) and selects the ``ansible.posix.json`` stdout
  callback (ansible-core 2.19 ships no JSON callback of its own);
* parses the JSON into a typed :class:`Recap`: per-host ok/changed/failed/unreachable/skipped
  counts (the real recap, not the exit code) and the names of the tasks that changed;
* runs SSH targets with Mitogen's ``mitogen_linear`` strategy (:func:`mitogen_env`): one
  persistent interpreter per host instead of a Python start and module upload per task, which
  halves a policy run (docs/benchmarks.md, "Configuration over SSH on real containers").
"""

from __future__ import annotations

import contextlib
import difflib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from fabric.paths import PLAYBOOKS_DIR, PROJECT_ROOT
from fabric.runtime.run_slots import run_slot, slot_count

SITE_PLAYBOOK = PLAYBOOKS_DIR / "site.yml"
ANSIBLE_CFG = PLAYBOOKS_DIR / "ansible.cfg"
JSON_CALLBACK = "ansible.posix.json"


class AnsibleRunError(RuntimeError):
    """ansible-playbook could not run or produced no parsable recap."""

    def __init__(self, message: str, *, returncode: int | None = None, stderr: str = "") -> None:
        """Keep the exit code and the tail of stderr for the caller's report."""
        super().__init__(message)
        self.returncode = returncode
        self.stderr = stderr


@dataclass(frozen=True)
class ChrootTarget:
    """A Debian root filesystem configured in place through ``community.general.chroot``.

    Nothing runs inside it: the roles decide by fact not to start services nor to load
    sysctls. Running it needs root on the build machine.
    """

    root: Path
    name: str | None = None

    @property
    def inventory_name(self) -> str:
        """The host name used in the inventory and the recap (default: the root path)."""
        return self.name or str(self.root)

    def host_vars(self) -> dict[str, Any]:
        """Inventory variables that make Ansible connect to this root."""
        return {
            "ansible_host": str(Path(self.root).resolve()),
            "ansible_connection": "community.general.chroot",
            "ansible_python_interpreter": "/usr/bin/python3",
        }


@dataclass(frozen=True)
class SshTarget:
    """A container reached over SSH (production).

    Phase model: the first (bootstrap) run uses ``user="root"`` with the key Proxmox injected;
    the policy then closes root login, and every later run uses the admin user, escalating with
    sudo (site.yml sets ``become`` whenever the user is not root).
    """

    host: str
    user: str = "root"
    port: int = 22
    private_key: Path | None = None
    name: str | None = None
    ssh_common_args: str | None = None

    @property
    def inventory_name(self) -> str:
        """The host name used in the inventory and the recap (default: the address)."""
        return self.name or self.host

    def host_vars(self) -> dict[str, Any]:
        """Inventory variables that make Ansible connect to this host."""
        hv: dict[str, Any] = {
            "ansible_host": self.host,
            "ansible_connection": "ssh",
            "ansible_user": self.user,
            "ansible_port": self.port,
            "ansible_python_interpreter": "/usr/bin/python3",
        }
        if self.private_key is not None:
            hv["ansible_ssh_private_key_file"] = str(self.private_key)
        if self.ssh_common_args:
            hv["ansible_ssh_common_args"] = self.ssh_common_args
        return hv


Target = ChrootTarget | SshTarget


@dataclass(frozen=True)
class ChangedTask:
    """One task that reported a change (or would have, in check mode) on one host."""

    host: str
    task: str
    items: tuple[str, ...] = ()
    diff: str = ""

    def describe(self) -> str:
        """``role : task [item, item]``: the form the drift report prints."""
        return f"{self.task} [{', '.join(self.items)}]" if self.items else self.task


@dataclass(frozen=True)
class HostRecap:
    """The recap of one host, as counted by Ansible."""

    ok: int = 0
    changed: int = 0
    failed: int = 0
    unreachable: int = 0
    skipped: int = 0
    rescued: int = 0
    ignored: int = 0
    changed_tasks: tuple[ChangedTask, ...] = ()
    failed_tasks: tuple[str, ...] = ()
    messages: tuple[str, ...] = ()


@dataclass(frozen=True)
class Recap:
    """The outcome of one ``ansible-playbook`` run over one or more targets."""

    hosts: Mapping[str, HostRecap]
    returncode: int
    duration_s: float
    check: bool = False
    stderr_tail: str = field(default="", repr=False)
    task_seconds: tuple[tuple[str, float], ...] = field(default=(), repr=False)

    @property
    def changed(self) -> int:
        """Total changed tasks over all hosts (from the recap)."""
        return sum(h.changed for h in self.hosts.values())

    @property
    def failed(self) -> int:
        """Total failed tasks over all hosts."""
        return sum(h.failed for h in self.hosts.values())

    @property
    def unreachable(self) -> int:
        """Total unreachable hosts/tasks."""
        return sum(h.unreachable for h in self.hosts.values())

    @property
    def succeeded(self) -> bool:
        """No failure, no unreachable host, at least one host ran."""
        return bool(self.hosts) and self.failed == 0 and self.unreachable == 0

    @property
    def changed_tasks(self) -> list[ChangedTask]:
        """Every changed task on every host, in play order."""
        return [t for h in self.hosts.values() for t in h.changed_tasks]

    def slowest_tasks(self, count: int = 10) -> list[tuple[str, float]]:
        """The ``count`` tasks that took longest (wall clock over all hosts), slowest first."""
        return sorted(self.task_seconds, key=lambda t: t[1], reverse=True)[:count]

    def summary(self) -> str:
        """One line per host, in the shape of Ansible's PLAY RECAP."""
        return "\n".join(
            f"{name}: ok={h.ok} changed={h.changed} unreachable={h.unreachable} "
            f"failed={h.failed} skipped={h.skipped} rescued={h.rescued} ignored={h.ignored}"
            for name, h in self.hosts.items()
        )


def host_recap(recap: Recap, name: str) -> Recap:
    """The part of a run over several targets that concerns ``name`` alone: its own counts,
    changed and failed tasks and messages; its exit status is the run's only if it failed.

    The run's stderr is left out (it may speak of the other targets)."""
    hosts = {name: recap.hosts[name]} if name in recap.hosts else {}
    own = Recap(hosts=hosts, returncode=0, duration_s=recap.duration_s, check=recap.check)
    code = 0 if own.succeeded else (recap.returncode or 2)
    return replace(own, returncode=code, task_seconds=recap.task_seconds)


def recap_to_dict(recap: Recap) -> dict[str, Any]:
    """A :class:`Recap` as plain JSON data (the warm controller sends it to the command)."""
    return asdict(recap)


def recap_from_dict(data: Mapping[str, Any]) -> Recap:
    """The inverse of :func:`recap_to_dict`."""
    hosts = {
        name: HostRecap(
            **{k: v for k, v in h.items() if k not in ("changed_tasks", "failed_tasks", "messages")},
            changed_tasks=tuple(
                ChangedTask(t["host"], t["task"], tuple(t["items"]), t["diff"]) for t in h["changed_tasks"]
            ),
            failed_tasks=tuple(h["failed_tasks"]),
            messages=tuple(h["messages"]),
        )
        for name, h in data["hosts"].items()
    }
    return Recap(
        hosts=hosts,
        returncode=int(data["returncode"]),
        duration_s=float(data["duration_s"]),
        check=bool(data["check"]),
        stderr_tail=str(data.get("stderr_tail", "")),
        task_seconds=tuple((str(n), float(s)) for n, s in data.get("task_seconds", [])),
    )


def ansible_playbook_bin() -> str:
    """The ``ansible-playbook`` next to this interpreter (the venv's), else the one on PATH."""
    local = Path(sys.executable).parent / "ansible-playbook"
    if local.exists():
        return str(local)
    found = shutil.which("ansible-playbook")
    if found is None:
        raise AnsibleRunError("ansible-playbook not found; run scripts/setup.sh")
    return found


def ansible_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment every run uses: our config, the JSON callback, no colour, no prompts."""
    env = dict(os.environ if base is None else base)
    env.update(
        {
            "ANSIBLE_CONFIG": str(ANSIBLE_CFG),
            "ANSIBLE_STDOUT_CALLBACK": JSON_CALLBACK,
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_RETRY_FILES_ENABLED": "0",
            "ANSIBLE_NOCOWS": "1",
            "PYTHONUNBUFFERED": "1",
            # Hosts configured at once by one run (a drift check over a fleet): two per core keeps
            # the cores busy while SSH round trips wait, without thrashing them.
            "ANSIBLE_FORKS": str(2 * slot_count()),
        }
    )
    env.pop("ANSIBLE_CALLBACKS_ENABLED", None)
    return env


def mitogen_env(targets: Sequence[Target], env: Mapping[str, str]) -> dict[str, str]:
    """Mitogen's strategy for a run whose targets are all SSH hosts, else nothing.

    Mitogen keeps one Python interpreter per host over one SSH connection for the whole run and
    reuses it for every task (``ansible_mitogen``, ``plugins/strategy/mitogen_linear.py`` and
    ``connection.py``); the connection honours the inventory's ``ansible_ssh_common_args``, so
    the pinned known_hosts file still decides. ansible-core 2.19 warns that third-party strategy
    plugins are deprecated: the pins in requirements-dev.txt move together, and
    ``SAMAKIA_ANSIBLE_STRATEGY=linear`` runs without it. Chroot targets (the playbook tier) keep
    Ansible's own strategy: Mitogen has no chroot connection.
    """
    if env.get("SAMAKIA_ANSIBLE_STRATEGY", "mitogen") == "linear":
        return {}
    if not targets or not all(isinstance(t, SshTarget) for t in targets):
        return {}
    import ansible_mitogen  # type: ignore[import-untyped]

    plugins = Path(ansible_mitogen.__file__).parent / "plugins" / "strategy"
    return {"ANSIBLE_STRATEGY_PLUGINS": str(plugins), "ANSIBLE_STRATEGY": "mitogen_linear"}


def _run_bounded(
    cmd: list[str],
    env: Mapping[str, str],
    timeout: float | None,
    cancel: threading.Event | None = None,
) -> subprocess.CompletedProcess[str]:
    """``ansible-playbook`` in a session of its own: a timeout (or ``cancel``) stops it and every
    process it started (Mitogen's connection multiplexer, SSH clients), not only the parent.

    Its stdin is ``/dev/null``, never the caller's: Ansible refuses to start when a stdin it
    inherited is non-blocking ("Ansible requires blocking IO on stdin/stdout/stderr"), which
    happens as soon as two runs, or a run and the shell that started ``make test`` in the
    background, share one open stdin and one of them switches it to non-blocking.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    with subprocess.Popen(
        cmd,
        cwd=PLAYBOOKS_DIR,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as proc:
        while True:
            wait = 0.25 if cancel is not None else None
            if deadline is not None:
                left = max(0.0, deadline - time.monotonic())
                wait = left if wait is None else min(wait, left)
            try:
                stdout, stderr = proc.communicate(timeout=wait)
                break
            except subprocess.TimeoutExpired as exc:
                stopped = cancel is not None and cancel.is_set()
                if not stopped and (deadline is None or time.monotonic() < deadline):
                    continue  # communicate() may be called again after a timeout
                _kill_run(proc.pid, env.get(RUN_MARKER, ""))
                proc.communicate()
                why = "was cancelled" if stopped else f"timed out after {timeout}s"
                raise AnsibleRunError(f"ansible-playbook {why}") from exc
    return subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)


RUN_MARKER = "SAMAKIA_ANSIBLE_RUN"
"""Set in each run's environment (its private directory): every process the run starts carries it."""


def _kill_run(pid: int, marker: str) -> None:
    """SIGKILL the run's session and every process that left it but still carries the run's
    marker: Mitogen's connection multiplexers start sessions of their own
    (``mitogen/parent.py``, ``os.setsid()`` in the child) and would outlive a killed parent."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    if not marker:
        return
    needle = f"{RUN_MARKER}={marker}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                os.kill(int(entry.name), signal.SIGKILL)
        except (OSError, ProcessLookupError):
            continue


def _inventory(targets: Sequence[Target], host_vars: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """Every target as an inventory host; ``host_vars`` adds each target's own variables (a
    batch of several containers: one host's variables are never another's)."""
    hosts: dict[str, Any] = {}
    for t in targets:
        if t.inventory_name in hosts:
            raise ValueError(f"duplicate target name {t.inventory_name!r}")
        hosts[t.inventory_name] = {**(host_vars or {}).get(t.inventory_name, {}), **t.host_vars()}
    return {"all": {"hosts": hosts}}


def _write_private(path: Path, content: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(content)


def _item_label(result: Mapping[str, Any]) -> str:
    label = result.get("_ansible_item_label", result.get("item", ""))
    if isinstance(label, Mapping):
        for key in ("path", "dest", "name", "key"):
            if key in label:
                return str(label[key])
        return json.dumps(label, sort_keys=True)
    return str(label)


def _render_diff(result: Mapping[str, Any]) -> str:
    diffs = result.get("diff")
    if not diffs:
        return ""
    out: list[str] = []
    for d in diffs if isinstance(diffs, list) else [diffs]:
        if not isinstance(d, Mapping):
            continue
        if "prepared" in d:
            out.append(str(d["prepared"]))
            continue
        before, after = d.get("before", ""), d.get("after", "")
        if isinstance(before, str) and isinstance(after, str):
            out.extend(
                difflib.unified_diff(
                    before.splitlines(keepends=True),
                    after.splitlines(keepends=True),
                    fromfile=str(d.get("before_header", "before")),
                    tofile=str(d.get("after_header", "after")),
                )
            )
        else:
            out.append(f"- {json.dumps(before, sort_keys=True)}\n+ {json.dumps(after, sort_keys=True)}\n")
    return "".join(out)


def _task_seconds(duration: Mapping[str, Any]) -> float:
    """Wall-clock seconds of one task from the JSON callback's ISO timestamps (0 when absent)."""
    try:
        start = datetime.fromisoformat(str(duration["start"]).replace("Z", "+00:00"))
        end = datetime.fromisoformat(str(duration["end"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return 0.0
    return max(0.0, (end - start).total_seconds())


def _first_json_object(stdout: str) -> dict[str, Any]:
    start = stdout.find("{")
    while start != -1:
        try:
            obj, _ = json.JSONDecoder().raw_decode(stdout[start:])
        except json.JSONDecodeError:
            start = stdout.find("\n{", start + 1)
            start = start + 1 if start != -1 else -1
            continue
        if isinstance(obj, dict) and "stats" in obj:
            return obj
        start = stdout.find("\n{", start + 1)
        start = start + 1 if start != -1 else -1
    raise ValueError("no JSON recap in ansible-playbook output")


def parse_recap(
    report: Mapping[str, Any],
    *,
    returncode: int = 0,
    duration_s: float = 0.0,
    check: bool = False,
    stderr_tail: str = "",
) -> Recap:
    """Turn the ``ansible.posix.json`` report into a :class:`Recap`.

    Counts come from ``stats`` (Ansible's recap). Changed and failed task names come from the
    per-task host results; a loop's changed items are listed by their label.
    """
    changed: dict[str, list[ChangedTask]] = {}
    failed: dict[str, list[str]] = {}
    messages: dict[str, list[str]] = {}
    timings: list[tuple[str, float]] = []
    for play in report.get("plays", []):
        for task in play.get("tasks", []):
            name = str(task.get("task", {}).get("name", "?"))
            timings.append((name, _task_seconds(task.get("task", {}).get("duration", {}))))
            for host, res in task.get("hosts", {}).items():
                if res.get("changed"):
                    items = tuple(_item_label(r) for r in res.get("results", []) or [] if r.get("changed"))
                    # The batched samakia.fabric modules name what they changed themselves.
                    items += tuple(str(p) for p in res.get("changed_paths", []) or [])
                    diff = _render_diff(res) or "".join(
                        _render_diff(r) for r in res.get("results", []) or [] if r.get("changed")
                    )
                    changed.setdefault(host, []).append(ChangedTask(host, name, items, diff))
                if (res.get("failed") or res.get("unreachable")) and not res.get("ignore_errors"):
                    failed.setdefault(host, []).append(name)
                    msg = res.get("msg")
                    # A command's own last words say why (Ansible censors no_log tasks' output).
                    said = [
                        line
                        for key in ("stdout", "stderr")
                        for line in str(res.get(key) or "").strip().splitlines()[-2:]
                        if line.strip() and not line.startswith("Shared connection to")
                    ]
                    if msg:
                        messages.setdefault(host, []).append(
                            f"{name}: {msg}" + (f" ({' / '.join(said)})" if said else "")
                        )
    hosts: dict[str, HostRecap] = {}
    for host, s in report.get("stats", {}).items():
        hosts[host] = HostRecap(
            ok=int(s.get("ok", 0)),
            changed=int(s.get("changed", 0)),
            failed=int(s.get("failures", 0)),
            unreachable=int(s.get("unreachable", 0)),
            skipped=int(s.get("skipped", 0)),
            rescued=int(s.get("rescued", 0)),
            ignored=int(s.get("ignored", 0)),
            changed_tasks=tuple(changed.get(host, [])),
            failed_tasks=tuple(failed.get(host, [])),
            messages=tuple(messages.get(host, [])),
        )
    return Recap(
        hosts=hosts,
        returncode=returncode,
        duration_s=duration_s,
        check=check,
        stderr_tail=stderr_tail,
        task_seconds=tuple(timings),
    )


def run_playbook(
    target: Target | Sequence[Target],
    playbook: str | Path = SITE_PLAYBOOK,
    extra_vars: Mapping[str, Any] | None = None,
    check: bool = False,
    diff: bool = False,
    *,
    tags: Iterable[str] = (),
    skip_tags: Iterable[str] = (),
    timeout: float | None = None,
    env: Mapping[str, str] | None = None,
    config: Path | None = None,
    host_vars: Mapping[str, Mapping[str, Any]] | None = None,
    forks: int | None = None,
    cancel: threading.Event | None = None,
) -> Recap:
    """Run ``playbook`` against ``target`` (one or several) and return the parsed recap.

    ``extra_vars`` go through a ``0600`` JSON file in a private temporary directory that is
    removed afterwards. ``check`` runs in check mode (nothing changes: the drift detector);
    ``diff`` adds the differences of changed tasks to :attr:`ChangedTask.diff` (they may show
    file contents, so keep it off where output is logged). A failed or unreachable host is
    reported in the recap, not raised; :class:`AnsibleRunError` means no recap at all.
    ``config`` replaces ``playbooks/ansible.cfg`` (a run of the installed ``samakia.fabric``
    collection, whose roles must not come from the checkout).

    ``host_vars`` maps a target's inventory name to variables of its own (inventory host
    variables, in the same private file); ``forks`` overrides how many hosts run at once;
    ``cancel`` stops the run (and everything it started) when set.
    """
    targets: list[Target] = [target] if isinstance(target, ChrootTarget | SshTarget) else list(target)
    if not targets:
        raise ValueError("run_playbook needs at least one target")
    playbook_path = Path(playbook)
    if not playbook_path.is_absolute():
        playbook_path = (PROJECT_ROOT / playbook_path) if not playbook_path.exists() else playbook_path.resolve()
    if not playbook_path.is_file():
        raise AnsibleRunError(f"playbook not found: {playbook_path}")

    with tempfile.TemporaryDirectory(prefix="samakia-ansible-") as tmp:
        tmpdir = Path(tmp)
        os.chmod(tmpdir, 0o700)
        inventory = tmpdir / "inventory.json"
        _write_private(inventory, json.dumps(_inventory(targets, host_vars)))
        cmd = [ansible_playbook_bin(), "-i", str(inventory), str(playbook_path)]
        if extra_vars:
            vars_file = tmpdir / "extra-vars.json"
            _write_private(vars_file, json.dumps(dict(extra_vars)))
            cmd += ["-e", f"@{vars_file}"]
        if check:
            cmd.append("--check")
        if diff:
            cmd.append("--diff")
        if tags := list(tags):
            cmd += ["--tags", ",".join(tags)]
        if skip_tags := list(skip_tags):
            cmd += ["--skip-tags", ",".join(skip_tags)]
        run_env = ansible_env(env)
        if config is not None:
            run_env["ANSIBLE_CONFIG"] = str(config)
        run_env.update(mitogen_env(targets, run_env))
        run_env["ANSIBLE_LOCAL_TEMP"] = str(tmpdir / "local")
        run_env[RUN_MARKER] = str(tmpdir)
        # SSH multiplexing sockets live and die with this run: no later run (a replaced container
        # at the same address) can reach a host through a master this one opened.
        run_env["ANSIBLE_SSH_CONTROL_PATH_DIR"] = str(tmpdir / "cp")
        if forks is not None:
            run_env["ANSIBLE_FORKS"] = str(max(1, forks))
        # Bounded: concurrent policies (Pulumi starts them all at once) share the machine's cores.
        with run_slot():
            started = time.monotonic()
            proc = _run_bounded(cmd, run_env, timeout, cancel)
            duration = time.monotonic() - started

    stderr_tail = "\n".join(proc.stderr.strip().splitlines()[-20:])
    try:
        report = _first_json_object(proc.stdout)
    except ValueError as exc:
        raise AnsibleRunError(
            f"ansible-playbook exited {proc.returncode} without a JSON recap:\n{stderr_tail}",
            returncode=proc.returncode,
            stderr=stderr_tail,
        ) from exc
    return parse_recap(report, returncode=proc.returncode, duration_s=duration, check=check, stderr_tail=stderr_tail)
