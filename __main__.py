"""Samakia Fabric's Pulumi program: the stack file is the intent; fabric/ does the rest."""

from pathlib import Path

from fabric.program import run

run(Path(__file__).absolute().parent)  # not resolved: the project may link its code in
