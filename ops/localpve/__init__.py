"""The local Proxmox: the fake PVE server (``server.py``) and the local fabric's services
(``services.py``: template mirror, local images, the environment Pulumi gets).

Room: may import ``ops.images``, ``ops.config``, ``providers`` and ``fabric``; never ``ops.stack``.
"""
