"""What a `chaos` command line asks for, read before the toolkit's own
imports (chaos.__main__): the processes a run needs are started from it
while the toolkit imports. Standard library only, and nothing else."""

from __future__ import annotations

# The global options that take a value (chaos.cli), so their values are not
# taken for the command.
TAKES_VALUE = {"--system", "--state", "--port-offset", "--runtime"}


def command_of(argv: list[str]) -> tuple[str | None, list[str]]:
    """The command (`run`, `up`, ...) and the arguments after it."""
    skip = False
    for i, arg in enumerate(argv):
        if skip:
            skip = False
        elif arg in TAKES_VALUE:
            skip = True
        elif not arg.startswith("-"):
            return arg, argv[i + 1:]
    return None, []


def asks_for(argv: list[str], *commands: str) -> bool:
    """One of `commands`, to be carried out (not --dry-run, not --help)."""
    command, rest = command_of(argv)
    return command in commands and not {"--dry-run", "-h", "--help"} & set(rest)


def option_of(argv: list[str], name: str) -> str | None:
    """The value of a global option (`--system FILE` or `--system=FILE`), if given."""
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None
