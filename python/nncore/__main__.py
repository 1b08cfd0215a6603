"""``python -m nncore``: the ``nncore`` command (train, profile, runs, report, bench, info)."""

import sys

from nncore.cli import main

sys.exit(main())
