"""Code the components run at apply time: the policy runner (``python3 -m fabric.runtime.apply_policy``,
called by ``ConfigPolicy``) and the Ansible wrapper it and the drift checks use.

Room: may import ``fabric`` (the core) only; never ``fabric.testing``, ``providers`` or ``ops``.
"""
