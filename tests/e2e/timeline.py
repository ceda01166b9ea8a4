"""A query loop from the host, recording when each member of a replica group is up, during an ``up``.

What "up" means is the probe's: the lifecycle asks each resolver a DNS query over the bridge, as
a client would (``probes.resolver_serving``). The loop is bounded (it stops with the block, or
after ``limit_s``) and only talks to the fabric's own addresses.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field


@dataclass
class Timeline:
    """(seconds since start, {member: up?}) samples, in order."""

    samples: list[tuple[float, dict[str, bool]]] = field(default_factory=list)

    def all_down_at(self) -> list[float]:
        """The sample times at which no member answered."""
        return [t for t, ups in self.samples if not any(ups.values())]

    def outages(self, member: str) -> int:
        """How many separate times the member went down."""
        downs, was_up = 0, True
        for _, ups in self.samples:
            if was_up and not ups[member]:
                downs += 1
            was_up = ups[member]
        return downs

    def transitions(self) -> list[tuple[float, str, bool]]:
        """(time, member, up?) at each change of a member's state: the timeline, readable."""
        out: list[tuple[float, str, bool]] = []
        last: dict[str, bool] = {}
        for t, ups in self.samples:
            out += [(round(t, 2), m, up) for m, up in ups.items() if last.get(m) != up]
            last = dict(ups)
        return out

    def first_down(self, member: str) -> float | None:
        return next((t for t, ups in self.samples if not ups[member]), None)

    def last_down(self, member: str) -> float | None:
        downs = [t for t, ups in self.samples if not ups[member]]
        return downs[-1] if downs else None


@contextlib.contextmanager
def record(probe: Callable[[], dict[str, bool]], interval_s: float = 0.05, limit_s: float = 900) -> Iterator[Timeline]:
    timeline, stop = Timeline(), threading.Event()
    start = time.monotonic()

    def loop() -> None:
        while not stop.is_set() and time.monotonic() - start < limit_s:
            with contextlib.suppress(Exception):  # a failed probe is a missing sample, not a crash
                timeline.samples.append((time.monotonic() - start, probe()))
            stop.wait(interval_s)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield timeline
    finally:
        stop.set()
        thread.join(timeout=10)
