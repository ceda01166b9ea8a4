"""Samakia Fabric's Pulumi program: the stack file is the intent; fabric/ does the rest."""

from pathlib import Path

from fabric.program import run

run(Path(__file__).resolve().parent)
