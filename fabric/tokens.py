"""Pulumi type tokens and the engine's unknown-value sentinel: one definition each.

The components register these types; the plan summary, the drift checks, the testing module
and the benchmarks look them up. Import them from here rather than spelling them out.
"""

from __future__ import annotations

from pulumi.runtime.rpc import UNKNOWN

# Resource types of the providers the components use (bpg/proxmoxve 0.x SDK, pulumi-command 1.x).
CONTAINER = "proxmoxve:index/containerLegacy:ContainerLegacy"
FILE = "proxmoxve:download/file:File"
HA = "proxmoxve:index/haresource:Haresource"
COMMAND = "command:local:Command"

# The fabric's own component types.
IMAGE = "samakia:fabric:Image"
LXC_CONTAINER = "samakia:fabric:LxcContainer"
CONFIG_POLICY = "samakia:fabric:ConfigPolicy"
FLEET = "samakia:fabric:Fleet"
DATA_VOLUME = "samakia:fabric:DataVolume"
HEALTH_CHECK = "samakia:fabric:HealthCheck"

__all__ = [
    "COMMAND",
    "CONFIG_POLICY",
    "CONTAINER",
    "DATA_VOLUME",
    "FILE",
    "FLEET",
    "HA",
    "HEALTH_CHECK",
    "IMAGE",
    "LXC_CONTAINER",
    "UNKNOWN",
]
