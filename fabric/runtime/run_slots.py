"""At most N ``ansible-playbook`` runs at once on this machine, however many callers start them.

Pulumi starts every ConfigPolicy command of a stack at the same time, and each one starts its
own ``ansible-playbook``. The controller, the module runs inside the containers and the
containers' services all share the same cores: measured here, three containers configured at
once on 2 cores took 325-338 s each, several times one run alone. A run waits here for one of N
slots (default: the number of CPUs, ``SAMAKIA_ANSIBLE_SLOTS`` to override) before it starts.

The slots are ``flock`` locks on files under the project cache, so they bound separate
processes (each Pulumi command is one) and are released by the kernel when a holder dies.
Imports nothing from the project but :mod:`fabric.paths`.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fabric.paths import cache_root

SLOTS_ENV = "SAMAKIA_ANSIBLE_SLOTS"


def slot_count() -> int:
    """How many runs may proceed at once: ``$SAMAKIA_ANSIBLE_SLOTS`` or the CPU count."""
    raw = os.environ.get(SLOTS_ENV, "").strip()
    if raw:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"{SLOTS_ENV}={raw!r}: expected a positive integer") from None
        if value < 1:
            raise ValueError(f"{SLOTS_ENV}={raw!r}: expected a positive integer")
        return value
    return max(1, os.cpu_count() or 1)


@contextmanager
def run_slot(directory: Path | None = None, count: int | None = None, poll_s: float = 0.05) -> Iterator[int]:
    """Hold one of ``count`` slots in ``directory`` for the duration of the block; yield its index."""
    slots_dir = directory or cache_root() / "ansible-slots"
    slots_dir.mkdir(parents=True, exist_ok=True)
    total = count or slot_count()
    while True:
        for index in range(total):
            fd = os.open(slots_dir / f"slot-{index}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            try:
                yield index
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
            return
        time.sleep(poll_s)
