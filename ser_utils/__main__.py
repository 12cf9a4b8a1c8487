"""Entry point for ``python -m ser_utils <command>``."""

import sys

from ser_utils.cli import main

sys.exit(main())
