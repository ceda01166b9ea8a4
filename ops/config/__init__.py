"""Configuration per target: the drift verdict from a check-mode recap (``drift.py``, the library
behind ``python -m ops.stack drift-config``) and the real Debian root the policy is tested and
benchmarked on (``rootfs.py``).

Room: the bottom of ``ops``. May import ``providers``, ``fabric.runtime`` and ``fabric``; no other ``ops`` room.
"""
