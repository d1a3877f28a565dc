"""`python -m chaos` is the same as the `chaos` command."""

from chaos.cli import run

run()
