"""`python -m chaos` is the same as the `chaos` command (`main`)."""

import gc
import os
import sys


def main() -> None:
    # The toolkit's imports build many objects (pydantic's models) and no
    # garbage: without collections in between they take 10-20 ms less, and
    # frozen afterwards, later collections do not walk them again.
    gc.disable()
    # A warm server beside the stack (`chaos up`) has all of the below
    # imported already: it forks a run in a millisecond (chaos.server).
    from chaos.server import run_warm

    code = run_warm(sys.argv[1:])
    if code is not None:
        os._exit(code)
    # Before the toolkit's own imports: a run's load generator starts now, in
    # a process of its own, and imports what it needs on the other core
    # while this one loads the scenario (chaos.engine.load_process).
    from chaos.engine.load_process import prepare_for

    prepare_for(sys.argv[1:])
    # So does the launcher of the system's Python services, for a run or an
    # `up` that will start them (chaos.launcher).
    from chaos.launcher import prepare_for as prepare_launcher

    prepare_launcher(sys.argv[1:])
    from chaos.cli import run

    gc.freeze()
    gc.enable()
    run()


if __name__ == "__main__":
    main()
