"""`python -m chaos` is the same as the `chaos` command (`main`)."""

import sys


def main() -> None:
    # Before the toolkit's own imports: a run's load generator starts now, in
    # a process of its own, and imports what it needs on the other core
    # while this one loads the scenario (chaos.engine.load_process).
    from chaos.engine.load_process import prepare_for

    prepare_for(sys.argv[1:])
    from chaos.cli import run

    run()


if __name__ == "__main__":
    main()
