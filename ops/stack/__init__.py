"""The stack runner: ``python -m ops.stack up|preview|down|drift|drift-config|outputs``.

Also ``python -m ops.stack.validate`` (stack files, no engine) and ``python -m ops.stack.plan_summary``
(a reviewed plan from ``pulumi preview --json``). ``drift.py`` is the one drift front end.

Room: the top of ``ops``. May import ``ops.localpve``, ``ops.images``, ``ops.config``,
``providers``, ``fabric.runtime`` and ``fabric``; nothing in ``policy``, ``bench`` or ``tests``.
"""
