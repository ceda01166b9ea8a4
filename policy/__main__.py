"""Serve the policy pack to the Pulumi engine (it runs `python policy/` with the engine's address)."""

import sys
from pathlib import Path

# The engine runs this file as a script, from the project directory: make the project importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pulumi_policy import EnforcementLevel, PolicyPack

from policy.rules import POLICIES

PolicyPack("samakia-fabric", POLICIES, enforcement_level=EnforcementLevel.MANDATORY)
