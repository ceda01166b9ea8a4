"""The ``command`` stand-in for the local fabric and the engine tiers, and the PVE API client.

The ``proxmoxve`` provider every engine run uses is upstream's own code: bpg's
terraform-provider-proxmox v0.112.0 through Pulumi's terraform bridge, built by the project
(``scripts/proxmoxve/``, ``scripts/proxmoxve.sh``). The upstream ``command`` provider cannot be
built here, because the Go module proxy refuses ``github.com/pulumi/pulumi-command/provider``
(see docs/engine.md), so ``command.py`` speaks the same gRPC protocol under the same package name
and type tokens, for the local stacks only; with the real binary at hand,
``SAMAKIA_PROVIDER_BINARIES`` registers it instead (scripts/engine.sh).

Room: below ``ops``. ``pve_api.py`` is the PVE API client (the stack runner and the tests use it).
May import ``fabric`` only; nothing in ``ops``, ``policy``, ``bench`` or ``tests``.
"""
