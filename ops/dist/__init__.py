"""The distribution: the wheel (``wheel.py``), the ``samakia.fabric`` Ansible collection
(``collection.py``) and the API reference of the public surface (``api_reference.py``), each built
from the checkout into a directory the caller names (``python -m ops.dist``, ``make dist``,
``make docs-api``).

Room: beside ``ops.config`` at the bottom of ``ops``. May import ``fabric``; no other ``ops``
room, no ``providers``.
"""
