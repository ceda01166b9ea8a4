"""Stand-in resource providers for the local fabric and the engine tier.

The upstream providers (``github.com/pulumi/pulumi-command/provider`` and
``github.com/muhlba91/pulumi-proxmoxve/provider``) cannot be built here: the Go module proxy
refuses their modules (see docs/engine.md). These speak the same gRPC protocol under the same
package names and type tokens, so the unchanged ``pulumi_command`` and ``pulumi_proxmoxve`` SDK
classes, and the fabric's components, drive them through the real Pulumi engine. They cover
what the fabric uses; they are not a general replacement. With real provider binaries at hand,
``SAMAKIA_PROVIDER_BINARIES`` registers those instead (scripts/engine.sh).

Room: below ``ops``. ``pve_api.py`` is the PVE API client (the stand-in provider and the
tests use it). May import ``fabric`` only; nothing in ``ops``, ``policy``, ``bench`` or ``tests``.
"""
