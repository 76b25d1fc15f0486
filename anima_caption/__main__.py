"""``python -m anima_caption``: the same as the ``anima-caption`` command."""

import sys

from anima_caption.cli import main

sys.exit(main())
