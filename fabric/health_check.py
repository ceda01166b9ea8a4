"""``HealthCheck``: the service on a container answers, before anything that waits for it proceeds."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
from pulumi_command import local

from .args import raise_problems
from .errors import Problem
from .tokens import HEALTH_CHECK

RUNNER = "python3 -m fabric.runtime.health"


@dataclass(frozen=True)
class HealthCheckArgs:
    """What to ask, where, and how patiently."""

    host: str
    """The container's address (probes go over the network, as clients' would)."""
    hostname: str
    profiles: Sequence[str]
    """Runtime profiles: each known one has its probe (dns, postgresql); none means sshd."""
    triggers: Sequence[pulumi.Input[str]]
    """What re-runs the check: the container's id and instance, the config policy's digest."""
    depends_on: Sequence[pulumi.Resource] = field(default_factory=list)
    """The container and its config policy: a check runs after both."""
    retries: int = 30
    interval_s: float = 2.0

    def problems(self) -> list[Problem]:
        found = []
        if not 1 <= self.retries <= 600:
            found.append(Problem("retries", "must be 1-600 (bounded: a stuck member must fail the up)", self.retries))
        if not 0.1 <= self.interval_s <= 60:
            found.append(Problem("intervalS", "must be 0.1-60 seconds", self.interval_s))
        return found


class HealthCheck(pulumi.ComponentResource):
    """A ``local.Command`` that succeeds only once the container's services answer (bounded retries).

    A replica group's next member depends on this resource, so the engine replaces it only
    after this member is replaced, configured and healthy.
    """

    def __init__(self, name: str, args: HealthCheckArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        raise_problems(args.problems())
        super().__init__(HEALTH_CHECK, name, None, opts)
        request = {
            "host": args.host,
            "hostname": args.hostname,
            "profiles": list(args.profiles),
            "retries": args.retries,
            "intervalS": args.interval_s,
        }
        self.command = local.Command(
            name,
            create=RUNNER,
            stdin=json.dumps(request, sort_keys=True),
            triggers=list(args.triggers),
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
        )
        self.register_outputs({"result": self.command.stdout})
