"""Samakia Fabric's CrossGuard policy pack (pulumi-policy): the rules every stack must keep.

Room rule: ``policy`` imports only ``fabric``. The rules live in ``policy.rules`` as plain
policy objects, so tests call each one's ``validate`` directly; ``policy/__main__.py`` serves them
to the engine (`pulumi preview --policy-pack policy`).
"""
