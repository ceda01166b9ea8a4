"""Configuration per target: drift in check mode (``python -m ops.config.drift``) and the real
Debian root the policy is tested and benchmarked on (``rootfs.py``).

Room: the bottom of ``ops``. May import ``providers``, ``fabric.runtime`` and ``fabric``; no other ``ops`` room.
"""
