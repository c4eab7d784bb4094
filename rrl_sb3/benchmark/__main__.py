"""``python -m rrl_sb3.benchmark``: the ``rrl-bench`` command."""

import sys

from rrl_sb3.benchmark.cli import main

if __name__ == "__main__":
    sys.exit(main())
