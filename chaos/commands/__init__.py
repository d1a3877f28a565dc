"""The CLI's larger commands, each its arguments and its call into the engine,
kept apart from chaos/cli.py (which joins each with one call) so that file
stays a readable size: `explore`, `mutants`, `demo`."""
