"""``python -m jaxnn.compat``: the ``jaxnn-compat`` command line."""

import sys

from jaxnn.compat.cli import main

sys.exit(main())
