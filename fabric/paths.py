"""Where the project's own trees are: one definition, imported by every module that needs one.

The playbooks root is read both when the program digests the policy (``Fleet``) and when the
policy runs (``fabric.runtime``); defining it once keeps them on the same tree.

Both the policy and the image catalog are found from this file, never from the working
directory: in a checkout they are the repository's ``playbooks/`` and ``images/catalog.yaml``; in
an installed wheel they are the copies shipped inside the package (``fabric/_data/``, see
``pyproject.toml``), which a program outside the repository uses.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
"""The ``fabric`` package itself."""

SHIPPED_DIR = PACKAGE_DIR / "_data"
"""The package data of an installed wheel (absent in a checkout)."""

INSTALLED = (SHIPPED_DIR / "playbooks" / "site.yml").is_file()
"""True when ``fabric`` runs from an installed wheel rather than from the repository checkout."""

PROJECT_ROOT = PACKAGE_DIR.parent
"""The project checkout: ``Pulumi.yaml``, ``playbooks/``, ``images/`` and the stack files (the
repository's tools use it; in an installed wheel it is only the site-packages directory)."""

PLAYBOOKS_DIR = SHIPPED_DIR / "playbooks" if INSTALLED else PROJECT_ROOT / "playbooks"
"""The configuration policy (``site.yml``, roles, ``ansible.cfg``)."""

CATALOG_FILE = SHIPPED_DIR / "catalog.yaml" if INSTALLED else PROJECT_ROOT / "images" / "catalog.yaml"
"""The image catalog this version of the package was released with."""

KNOWN_HOSTS_DIR = ".state/known_hosts"
"""Default directory of the containers' pinned SSH host keys, relative to the Pulumi project:
the stack's ``connection.knownHosts`` and the policy runner's fallback for a request without one."""


def cache_root() -> Path:
    """``$SAMAKIA_CACHE`` or ``~/.cache/samakia-fabric``: builds, roots and the engine, outside the repository."""
    env = os.environ.get("SAMAKIA_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "samakia-fabric"
