"""`python -m chaos` is the same as the `chaos` command."""

import sys

from chaos.cli import main

sys.exit(main())
