"""``python -m nncore``: the ``nncore`` command (train, profile, runs, report, bench, info)."""

import sys

from nncore.cli import main

# NOTE: guarded so that tools importing every module (the architecture tests) do not run it.
if __name__ == "__main__":
    sys.exit(main())
