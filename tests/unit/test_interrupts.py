"""Interrupts land where rollback can handle them: never between starting a
process and recording it, and a run interrupted before it watched anything
still rolls back without tripping over its own watcher."""

import os
import signal

import pytest

from chaos.history import History
from chaos.engine.interrupts import deferred
from chaos.engine.observe import BreakerWatcher


@pytest.fixture
def handlers():
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def test_a_signal_inside_waits_for_the_end_of_the_block(handlers):
    seen = []
    signal.signal(signal.SIGTERM, lambda signum, frame: seen.append(("handled", signum)))
    with deferred():
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGTERM)
        seen.append("block done")
    assert seen == ["block done", ("handled", signal.SIGTERM)]  # once, after the block


def test_ctrl_c_inside_becomes_keyboard_interrupt_after_the_block(handlers):
    signal.signal(signal.SIGINT, signal.default_int_handler)
    steps = []
    with pytest.raises(KeyboardInterrupt):
        with deferred():
            os.kill(os.getpid(), signal.SIGINT)
            steps.append("recorded")
    assert steps == ["recorded"]


def test_an_ignored_signal_stays_ignored(handlers):
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as during the runner's rollback
    with deferred():
        os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN


def test_a_watcher_stopped_before_it_started_does_not_raise(system):
    # A run interrupted in its set-up reaches the watcher's stop() in its rollback.
    BreakerWatcher(system, History()).stop()


# -- what an interrupted run says it did -------------------------------------

import io  # noqa: E402

from chaos.engine import runner as runner_module  # noqa: E402
from chaos.engine.interrupts import Interrupted  # noqa: E402
from chaos.engine.restore import Restored  # noqa: E402
from chaos.errors import SetupError  # noqa: E402
from chaos.spec.scenario import find_scenario, load_scenario  # noqa: E402
from chaos.ui.console import Console  # noqa: E402


class _Runtime:
    """Enough of a runtime for a Runner that is interrupted at its first step."""

    agent_token = None

    def logs(self, name):  # noqa: ANN001, ANN201
        return None


def _interrupted_runner(system, monkeypatch, restored):  # noqa: ANN001, ANN202
    """A run whose first step (marking the logs) meets Ctrl-C; `restored`
    stands for restore(): it returns or raises. The restores asked for."""
    asked = []

    def first_step(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise KeyboardInterrupt

    def fake_restore(system, runtime, toxiproxy, breakers=True, say=None):  # noqa: ANN001, ANN202
        asked.append(breakers)
        return restored()

    monkeypatch.setattr(runner_module, "LogMarks", first_step)
    monkeypatch.setattr(runner_module, "restore", fake_restore)
    scenario = load_scenario(find_scenario("order-down", system), system)
    out = io.StringIO()
    run = runner_module.Runner(system, scenario, _Runtime(), Console(out))  # type: ignore[arg-type]
    return run, asked, out


def test_a_run_interrupted_at_its_first_step_still_rolls_back_and_restarts_open_breakers(system, monkeypatch):
    # Once the run's first line is out, Ctrl-C must find the rollback in place
    # (CI: a breaker left open by someone else stayed open, and the CLI said "services restored").
    run, asked, _ = _interrupted_runner(system, monkeypatch, Restored)
    with pytest.raises(Interrupted) as caught:
        run.run()
    assert asked == [True]  # close_breakers: a restored system was promised
    assert caught.value.outcome == "faults reverted, services restored"


@pytest.mark.parametrize(("message", "said"), [
    ("gateway exited while starting; last lines of gateway.log:\n[...] Booting worker",
     "gateway exited while starting; last lines of gateway.log:"),
    ("", "SetupError"),  # no message: once an IndexError inside the rollback
])
def test_a_rollback_that_could_not_restore_says_so(system, monkeypatch, message, said):
    def fails():  # noqa: ANN202
        raise SetupError(message)

    run, asked, out = _interrupted_runner(system, monkeypatch, fails)
    with pytest.raises(Interrupted) as caught:
        run.run()
    assert caught.value.outcome == f"faults reverted, but restoring the services failed ({said}); run `chaos reset`"
    assert f"restore failed: {message.splitlines()[0] if message else ''}" in out.getvalue()


def test_the_cli_prints_what_the_rollback_did(monkeypatch, capsys, handlers):
    from chaos import cli

    def interrupted(args, console):  # noqa: ANN001, ANN202
        raise Interrupted("faults reverted, but restoring the services failed (x); run `chaos reset`")

    monkeypatch.setattr(cli, "cmd_run", interrupted)
    assert cli.main(["run", "order-down"]) == cli.EXIT_INTERRUPTED
    assert capsys.readouterr().err == "chaos: interrupted; faults reverted, but restoring the services failed (x); run `chaos reset`\n"


def test_other_commands_interrupted_claim_nothing(monkeypatch, capsys, handlers):
    from chaos import cli

    def interrupted(args, console):  # noqa: ANN001, ANN202
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "cmd_reset", interrupted)
    assert cli.main(["reset"]) == cli.EXIT_INTERRUPTED
    assert capsys.readouterr().err == "chaos: interrupted\n"
