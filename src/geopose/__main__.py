"""``python -m geopose`` behaves exactly like the ``geopose`` command (torchrun needs it)."""

import sys

from geopose.cli import main

if __name__ == "__main__":
    sys.exit(main())
