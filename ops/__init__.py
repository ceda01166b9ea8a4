"""Operator commands, grouped by job; each job is a room with its own import rule.

From top to bottom (a room imports only rooms below it, and ``fabric``):
``ops.stack`` (the stack runner), ``ops.localpve`` (the local Proxmox), ``ops.images`` (image
builds and the catalog check), ``ops.config`` (configuration drift per target) and, beside it,
``ops.dist`` (the wheel, the ``samakia.fabric`` collection, the API reference).
"""
