"""``python -m jaxnn.compat``: the ``jaxnn-compat`` command line."""

import sys

from jaxnn.compat.cli import main

if __name__ == "__main__":
    sys.exit(main())
