"""Benchmarks: print figures and a ratio to a baseline measured in the same run (docs/benchmarks.md).

Room: the top. May import anything in the project except ``tests``.
"""
