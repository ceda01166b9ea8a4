"""Where the project's own trees are: one definition, imported by every module that needs one.

The playbooks root is read both when the program digests the policy (``Fleet``) and when the
policy runs (``fabric.runtime``); defining it once keeps them on the same tree.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
"""The project checkout: ``Pulumi.yaml``, ``playbooks/``, ``images/`` and the stack files."""

PLAYBOOKS_DIR = PROJECT_ROOT / "playbooks"
"""The configuration policy (``site.yml``, roles, ``ansible.cfg``)."""

KNOWN_HOSTS_DIR = ".state/known_hosts"
"""Default directory of the containers' pinned SSH host keys, relative to the Pulumi project:
the stack's ``connection.knownHosts`` and the policy runner's fallback for a request without one."""


def cache_root() -> Path:
    """``$SAMAKIA_CACHE`` or ``~/.cache/samakia-fabric``: builds, roots and the engine, outside the repository."""
    env = os.environ.get("SAMAKIA_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "samakia-fabric"
