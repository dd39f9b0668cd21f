"""``python -m spinebq``: the ``spinebq`` command."""
import sys

from spinebq.cli import main

sys.exit(main())
