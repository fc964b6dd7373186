"""``python -m sgdlab`` is the ``sgdlab`` command."""

import sys

from sgdlab.cli.main import main

sys.exit(main())
