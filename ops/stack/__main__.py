"""``python -m ops.stack up|preview|down|drift|drift-config|outputs --stack NAME``: see ops.stack.cli."""

import sys

from ops.stack.cli import main

sys.exit(main())
