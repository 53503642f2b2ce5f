"""`python -m dccbridge.cli`."""

import sys

from . import main

sys.exit(main())
