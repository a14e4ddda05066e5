"""``python -m resemble_detect_async`` is the ``resemble-detect`` command."""

import sys

from ._cli import main

sys.exit(main())
