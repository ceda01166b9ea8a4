"""Image builds (``python -m ops.images.build``), their inputs and artifacts, and the catalog
immutability check (``python -m ops.images.catalog_check``).

Room: may import ``ops.config``, ``providers`` and ``fabric``; never ``ops.stack`` or ``ops.localpve``.
"""
