"""``python -m flue``: the command line."""

from __future__ import annotations

import sys

from flue._cli.main import main

if __name__ == "__main__":
    sys.exit(main())
