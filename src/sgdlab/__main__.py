"""``python -m sgdlab`` is the ``sgdlab`` command."""

import sys

from .cli import main

sys.exit(main())
