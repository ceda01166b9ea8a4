"""Peak memory of a command and everything it starts (the engine, language host, providers).

The Pulumi CLI starts the language host and the providers as children: the figure a user feels
is their resident memory together, sampled from ``/proc`` while the command runs.
"""

from __future__ import annotations

import contextlib
import os
import resource
import subprocess
import threading
import time
from collections import defaultdict
from pathlib import Path

PAGE = os.sysconf("SC_PAGE_SIZE")


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = defaultdict(list)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # the process ended meanwhile
            continue
        ppid = int(text[text.rindex(")") + 2 :].split()[1])  # after "(comm)": state, then ppid
        tree[ppid].append(int(stat.parent.name))
    return tree


def tree_rss(root: int) -> int:
    """Resident bytes of ``root`` and all its descendants now."""
    tree, todo, total = _children(), [root], 0
    while todo:
        pid = todo.pop()
        with contextlib.suppress(OSError, IndexError, ValueError):  # the process ended meanwhile
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
        todo += tree.get(pid, [])
    return total


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_measured(
    cmd: list[str], *, cwd: Path, env: dict[str, str], interval: float = 0.25
) -> tuple[subprocess.CompletedProcess[str], float, float, int]:
    """Run ``cmd``; return its result, wall seconds, CPU seconds and peak resident bytes of its process tree.

    CPU counts the command and every descendant it waited for (the CLI waits for its plugins),
    which makes it steadier than wall time on a machine shared with other work.
    """
    cpu = _children_cpu()
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak = [0]

    def sample() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], tree_rss(proc.pid))
            time.sleep(interval)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    seconds = time.perf_counter() - start
    sampler.join()
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err), seconds, _children_cpu() - cpu, peak[0]
