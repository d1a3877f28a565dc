"""Malformed and hostile scenario files, generated: `chaos validate FILE` and
`chaos run FILE` each exit 2 with one paragraph that names the file (for a
file of typed data: every line with its line number and field), never a
traceback, and nothing starts: the runtime is never asked to start anything,
no state file is written, and no port of the system answers afterwards.

The CLI runs in-process (chaos.cli.main) for speed; a handful of files also
go through `python -m chaos` as real subprocesses, with a memory cap.
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
import re
import resource
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import example, given, settings

from chaos import cli
from chaos.cli import _params, _parser, main
from chaos.errors import ConfigError
from chaos.engine.runner import Runner
from chaos.runtime.local import LocalRuntime
from chaos.spec.scenario import load_scenario
from chaos.spec import load_system

from .malformed import DOCS, Case, at, dump, parameter_cases, raw_cases, structured_cases, text_cases
from .test_yaml_bounds import BILLION_LAUGHS, MERGE_BOMB

ROOT = Path(__file__).resolve().parents[2]
SYSTEM = ROOT / "system.yaml"
ACTIONS = ("up", "start", "stop", "kill", "pause", "resume", "restart", "down")
MAX_LINE = 600  # a message that long is a dump, not a sentence

tried: Counter[str] = Counter()
# The profile tests/conftest.py loaded ("ci" under CI=true), pinned at import:
# services/ loads profiles of its own later, which must not resize this suite.
FUZZ = settings()


def children() -> set[int]:
    """The processes this test process started and that still exist."""
    found: set[int] = set()
    for task in Path("/proc/self/task").iterdir():
        with contextlib.suppress(OSError):
            found.update(int(pid) for pid in (task / "children").read_text().split())
    return found


@dataclass
class Sandbox:
    """A state folder and a reports folder that must stay empty, and a record
    of every start-like call the runtime or runner received."""

    base: Path
    asked: list[str] = field(default_factory=list)

    @property
    def state(self) -> Path:
        return self.base / "state"

    @property
    def reports(self) -> Path:
        return self.base / "reports"

    def cli(self, *args: str, env: tuple[tuple[str, str], ...] = ()) -> tuple[int, str]:
        """Run `chaos ARGS` in-process; (exit code, stderr)."""
        err = io.StringIO()
        previous = signal.getsignal(signal.SIGTERM)  # main() installs its own SIGTERM handler
        try:
            with mock.patch.dict(os.environ, dict(env)), contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                code = main(["--system", str(SYSTEM), "--state", str(self.state), *args])
        finally:
            signal.signal(signal.SIGTERM, previous)
        return code, err.getvalue()

    def assert_untouched(self) -> None:
        assert not self.asked, f"the runtime was asked to {self.asked}"
        assert not self.state.exists() or not any(self.state.iterdir()), "the state folder was written"
        assert not self.reports.exists(), "a report was written"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    box = Sandbox(tmp_path_factory.mktemp("malformed"))
    # Not "no port answers": other people's systems may come and go on the
    # same ports meanwhile. What this process started is ours for sure.
    before = children()

    def refuse(name: str):  # type: ignore[no-untyped-def]
        def act(*args, **kwargs):  # type: ignore[no-untyped-def]
            box.asked.append(name)
            raise AssertionError(f"asked to {name} on a malformed file")

        return act

    with pytest.MonkeyPatch.context() as mp:
        for action in ACTIONS:
            mp.setattr(LocalRuntime, action, refuse(action))
        mp.setattr(Runner, "run", refuse("run the runner"))
        # The system file never changes here; reading it once saves most of each example's time.
        system = load_system(SYSTEM)
        mp.setattr(cli, "load_system", lambda path: system)
        yield box
    box.assert_untouched()
    assert children() <= before, "a process was started"
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None and tried:
        detail = ", ".join(f"{k} {v}" for k, v in sorted(tried.items()))
        with capture.global_and_fixture_disabled():
            reporter.write_line(f"\nmalformed scenario files tried: {sum(v for k, v in tried.items() if k != 'valid')} ({detail})")


def assert_one_paragraph(err: str, path: Path, line_and_field: bool) -> None:
    assert "Traceback" not in err, err
    assert err.strip() and err.endswith("\n"), f"no message: {err!r}"
    for line in err.rstrip("\n").split("\n"):
        assert line.strip(), f"a blank line splits the message: {err!r}"
        assert str(path) in line, f"a line does not name the file: {line!r}"
        assert len(line) <= MAX_LINE, f"a line of {len(line)} characters: {line[:200]!r}..."
        if line_and_field:
            assert re.search(re.escape(str(path)) + r":\d+: [^:]+: \S", line), f"no line number and field: {line!r}"


def would_run(case: Case, path: Path) -> bool:
    """Whether `chaos run` would accept the file (and then start things)."""
    try:
        params = _params(_parser().parse_args(["run", "x", *case.args]))
        load_scenario(path, cli.load_system(SYSTEM), params, dict(case.env))
    except ConfigError:
        return False
    return True


def try_case(box: Sandbox, case: Case, strategy: str) -> None:
    folder = box.base / "files"
    folder.mkdir(exist_ok=True)
    path = folder / f"{case.name}.yaml"
    path.write_bytes(case.content)
    # A file of typed data gets line and field, except for errors in --param, which has no line.
    line_and_field = case.structured and not case.args
    if case.args or case.env:  # validate reads neither --param nor the environment
        valid = would_run(case, path)
    else:
        code, err = box.cli("validate", str(path))
        valid = code == 0
        if not valid:
            assert code == 2, (code, err)
            assert_one_paragraph(err, path, line_and_field)
    if valid:
        # A mutation that kept the file valid (a new seed, another description) is not
        # malformed, and `chaos run` would start the system: leave it.
        assert would_run(case, path)
        tried["valid"] += 1
        return
    tried[strategy] += 1
    code, err = box.cli("run", str(path), "--reports", str(box.reports), *case.args, env=case.env)
    assert code == 2, (code, err)
    if case.args and "=" not in case.args[-1][1:]:
        assert "--param" in err and "\n" not in err.strip()  # the argument is wrong, not the file
    else:
        assert_one_paragraph(err, path, line_and_field)
    box.assert_untouched()


def replaced(name: str, loc: tuple, value: object, how: str) -> Case:
    doc = copy.deepcopy(DOCS[name])
    at(doc, loc[:-1])[loc[-1]] = value
    return Case(name, dump(doc), True, how)


@FUZZ
@given(case=structured_cases())
@example(replaced("order-down", ("faults", 0, "kind"), "a\n\nb", "an unknown kind with line breaks split the message"))
@example(replaced("order-down", ("faults", 0, "kind"), "x" * 3000, "an unknown kind of 3000 characters was echoed whole"))
@example(replaced("order-down", ("faults", 0, "service"), "y" * 3000, "so was an unknown service"))
def test_structured_mutations_are_refused_with_line_and_field(sandbox, case):
    try_case(sandbox, case, "structured")


@FUZZ
@given(case=parameter_cases())
@example(replaced("order-slow", ("parameters", "latency_ms", "default"), "x" * 1200, "a bad default was echoed whole"))
@example(replaced("order-slow", ("parameters", "latency_ms", "default"), "1\n\n2", "with its line breaks"))
def test_bad_parameters_are_refused(sandbox, case):
    try_case(sandbox, case, "parameters")


def text_case(content: str | bytes, how: str) -> Case:
    return Case("junk", content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass"), False, how)


@FUZZ
@given(case=text_cases())
@example(text_case(BILLION_LAUGHS, "billion laughs: 9**9 values from 700 bytes took 18 s and 1.3 GB"))
@example(text_case(MERGE_BOMB, "the same through merge keys"))
@example(text_case("a: " + "[" * 5000 + "]" * 5000, "deep nesting"))
@example(text_case("a: &a [*a]\n", "an alias inside its own value"))
@example(text_case("name: t\nduration: 1" + "0" * 5000 + "\n", "a 5000-digit int raised ValueError"))
@example(text_case("name: t\nduration: 2021-13-45\n", "an impossible date raised ValueError"))
@example(text_case("name: t\nduration: !!timestamp soon\n", "!!timestamp raised AttributeError"))
@example(text_case("- 1\n" * 250_000, "a 1 MB list took 8 s to read"))
@example(text_case("\x1fname: t\n", "a control character gave a second line about '<unicode string>'"))
@example(text_case("!!int name: cascade\n", "a tagged key raised ValueError"))
def test_damaged_text_is_refused(sandbox, case):
    try_case(sandbox, case, "text")


@FUZZ
@given(case=raw_cases())
@example(text_case(b"", "empty"))
@example(text_case(b"\x00\xff\xfe junk", "binary"))
@example(text_case("- a\n- b\n", "a list at the top"))
@example(text_case("a: b\n" * 300_000, "over the size limit"))
def test_noise_is_refused(sandbox, case):
    try_case(sandbox, case, "raw")


def _cap_memory() -> None:
    cap = 1 << 30  # 1 GiB of address space: the billion laughs took 1.3 GB before it was bounded
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


SUBPROCESS_CASES = {
    "billion-laughs": BILLION_LAUGHS,
    "tabs": "name: junk\n\tdescription: x\n",
    "binary": b"\x89PNG\r\n\x1a\n\x00\x00",
    "unknown-fault": "name: junk\ndescription: x\nduration: 10s\nfaults: [{kind: boom, at: 1s}]\nchecks: [{kind: containment}]\n",
    "empty": "",
}


def test_real_subprocesses_exit_2_quickly_in_bounded_memory(tmp_path):
    """As a user runs it: `python -m chaos`, capped at 1 GiB and 30 s."""
    procs = []
    for name, content in SUBPROCESS_CASES.items():
        path = tmp_path / name / "junk.yaml"
        path.parent.mkdir()
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        for command in (["validate", str(path)], ["run", str(path), "--reports", str(tmp_path / "reports")]):
            argv = [sys.executable, "-m", "chaos", "--system", str(SYSTEM), "--state", str(tmp_path / "state"), *command]
            procs.append((name, command[0], path, subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_cap_memory)))
    for name, command, path, proc in procs:
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 2, (name, command, proc.returncode, err)
        assert_one_paragraph(err, path, line_and_field=False)
    assert not (tmp_path / "state").exists() and not (tmp_path / "reports").exists()
