"""Allow ``python -m unbinned.cli``."""

import sys

from unbinned.cli import main

sys.exit(main())
