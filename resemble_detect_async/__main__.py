"""``python -m resemble_detect_async`` is the ``resemble-detect`` command."""

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main())
