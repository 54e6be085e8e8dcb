"""Entry script of the desktop bundle (packaging/kindred.spec); everything is in kindred.frozen."""

import sys

from kindred.frozen import main

if __name__ == "__main__":
    sys.exit(main())
