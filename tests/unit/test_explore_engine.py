"""chaos explore's search, with the live run replaced by a rule over the
schedule: it finds a violation, shrinks it keeping the violated property,
writes it and replays it from the file; a violation that does not come back
is flaky, not a find; the budget stops generation and shrinking alike and
the best schedule so far is written; "unknown" is not a violation; a rerun
finds the violation at once from the example database."""

import io
from pathlib import Path

from chaos.engine.explore import Example, Explorer, ExploreOptions
from chaos.runtime import Status
from chaos.spec.scenario import load_scenario
from chaos.ui.console import Console

CONTAIN = "unaffected routes contained"


class FakeRuntime:
    agent_token = "t"

    def status(self, name):
        return Status.RUNNING

    def down(self):
        raise AssertionError("the stack was up before; explore must leave it up")

    def logs(self, name):
        return None


def slow_orders(faults):
    """The rule standing in for a live run: a long slow gateway->orders breaks containment."""
    return any(f["kind"] == "latency" and f["edge"] == "gateway->orders" and f["latency"] >= 1500
               and float(f["duration"][:-1]) >= 5 for f in faults)


class RuleExplorer(Explorer):
    def __init__(self, system, tmp_path, rule=slow_orders, replay_fails=True, unknown=False, passes_in=(), unknown_in=(), **options):
        opts = ExploreOptions(**{"budget": 3600, "examples": 300, "seed": 7, "out": tmp_path / "found",
                                 "reports": tmp_path / "reports", "database": tmp_path / "db", **options})
        self.out_text = io.StringIO()
        super().__init__(system, opts, Console(out=self.out_text, colour=False), lambda s: FakeRuntime())
        self.rule, self.replay_fails, self.unknown, self.ran = rule, replay_fails, unknown, []
        self.passes_in = set(passes_in) | (set() if replay_fails else {"replay"})
        self.unknown_in = set(unknown_in)  # phases in which the rule's check cannot tell

    def _reset_timeout(self):
        return 2.0

    def _execute(self, scenario, faults, number, phase):
        self.ran.append((phase, faults))
        self.scenarios = getattr(self, "scenarios", []) + [scenario]
        blind = self.rule(faults) and phase in self.unknown_in
        bad = self.rule(faults) and phase not in self.passes_in and not blind
        unknown = ["breaker gateway->orders recovers: gateway->orders never opened"] if self.unknown else []
        unknown += [f"{CONTAIN}: load not delivered"] if blind else []
        status = "fail" if bad else ("unknown" if unknown else "pass")
        verdicts = {CONTAIN: "fail" if bad else ("unknown" if blind else "pass")}
        return Example(number, phase, faults, status, [CONTAIN] if bad else [], unknown, verdicts=verdicts, at=float(len(self.ran)))


def test_it_finds_shrinks_writes_and_replays_a_violation(system, tmp_path):
    explorer = RuleExplorer(system, tmp_path, max_shrink_runs=500)
    result = explorer.run()
    f = result.finding
    assert result.stopped_by == "found" and f is not None and f.status == "reproduced"
    assert f.violated == [CONTAIN] and f.shrink_complete
    # The minimal schedule that still breaks the rule: one fault, shortest that counts, earliest.
    assert f.faults == [{"kind": "latency", "edge": "gateway->orders", "latency": 3000, "at": "2.5s", "duration": "5s"}]
    path = Path(f.path)
    assert path.parent == tmp_path / "found" and path.name.startswith("containment-")
    scenario = load_scenario(path, system)
    assert [c.title() for c in scenario.checks] == [CONTAIN]  # only the violated property
    assert explorer.ran[-1][0] == "replay" and explorer.scenarios[-1].path == path  # replayed from the file
    assert [phase for phase, _ in explorer.ran].count("confirm") == 1  # the first violation came back at once
    assert any(line.startswith("found: unaffected routes contained; first at example") for line in result.summary)
    assert (result.index / "index.json").exists() and (result.index / "summary.txt").exists()
    # Hypothesis's own replay of its final example cost no run: every schedule ran at most once.
    runs = [repr(faults) for phase, faults in explorer.ran if phase in ("generate", "shrink")]
    assert len(runs) == len(set(runs))


def test_a_violation_that_does_not_come_back_on_replay_is_flaky_not_a_find(system, tmp_path):
    result = RuleExplorer(system, tmp_path, replay_fails=False).run()
    assert result.finding.status == "flaky"
    assert not (tmp_path / "found").exists()  # not among the scenarios, and no empty folder left
    assert Path(result.finding.path).parent == result.index and Path(result.finding.path).name.startswith("flaky-")
    assert any("FLAKY" in line for line in result.summary)
    assert result.passed  # listed, but not a find


def test_a_first_violation_that_does_not_come_back_when_run_again_is_flaky_and_generation_goes_on(system, tmp_path):
    explorer = RuleExplorer(system, tmp_path, rule=lambda fs: any(f["kind"] == "latency" for f in fs), passes_in={"confirm"},
                            examples=40)
    result = explorer.run()
    assert result.finding is None and result.passed and result.stopped_by == "examples"
    assert result.flaky and all(f.reruns == ["pass", "pass"] for f in result.flaky)  # run twice more, before any shrinking
    assert not any(e.phase == "shrink" for e in result.examples)
    assert sum(e.status == "flaky" for e in result.examples) == len(result.flaky)
    text = "\n".join(result.summary)
    assert "FLAKY (not a find)" in text and "found: nothing that fails again when run again" in text


def test_a_replay_that_cannot_tell_is_tried_again_and_then_said_unconfirmed_not_flaky(system, tmp_path):
    explorer = RuleExplorer(system, tmp_path, unknown_in={"replay"}, max_shrink_runs=500)
    result = explorer.run()
    assert result.finding.status == "unconfirmed" and not result.passed  # unknown is never a pass
    assert [phase for phase, _ in explorer.ran].count("replay") == 3
    assert Path(result.finding.path).name.startswith("unconfirmed-") and not list((tmp_path / "found").glob("*.yaml"))
    assert any("UNCONFIRMED: the replays could not tell (unaffected routes contained: load not delivered)" in line
               for line in result.summary)


def test_a_confirming_rerun_that_cannot_tell_does_not_make_a_violation_flaky(system, tmp_path):
    result = RuleExplorer(system, tmp_path, unknown_in={"confirm"}, max_shrink_runs=500).run()
    assert result.flaky == [] and result.finding.status == "reproduced"


def test_unknown_is_not_a_violation_and_is_counted_with_its_reason(system, tmp_path):
    result = RuleExplorer(system, tmp_path, rule=lambda faults: False, unknown=True, examples=5).run()
    assert result.finding is None and result.passed and result.stopped_by == "examples"
    assert len(result.examples) == 5 and {e.status for e in result.examples} == {"unknown"}
    text = "\n".join(result.summary)
    assert "5 passed with some check unknown" in text and "found: nothing" in text
    assert "5 x breaker gateway->orders recovers: gateway->orders never opened" in text
    assert "covered (examples per fault kind and target):" in text


def test_the_budget_stops_shrinking_and_the_best_schedule_so_far_is_written(system, tmp_path):
    result = RuleExplorer(system, tmp_path, max_shrink_runs=2).run()
    f = result.finding
    assert result.stopped_by == "budget" and "2 shrink runs" in result.spent
    assert f is not None and not f.shrink_complete and f.shrink_runs == 2 and f.status == "reproduced"
    assert slow_orders(f.faults)  # whatever it got to still breaks the rule
    assert sum(1 for e in result.examples if e.phase == "shrink") == 2


def test_a_wall_clock_budget_smaller_than_one_example_runs_none(system, tmp_path):
    result = RuleExplorer(system, tmp_path, budget=5).run()
    assert result.stopped_by == "budget" and result.examples == [] and result.finding is None


def test_a_rerun_finds_the_violation_at_once_from_the_example_database(system, tmp_path):
    # Unseeded: Hypothesis leaves its database alone in a seeded run (the seed alone reproduces it).
    first = RuleExplorer(system, tmp_path, seed=None, max_shrink_runs=500).run()
    assert first.finding is not None and list((tmp_path / "db").rglob("*"))
    result = RuleExplorer(system, tmp_path, seed=None, max_shrink_runs=500).run()
    assert result.finding.first_example == 1 and result.finding.faults == first.finding.faults


def test_a_seed_draws_the_same_schedules_again(system, tmp_path):
    runs = [RuleExplorer(system, tmp_path / str(i), rule=lambda f: False, examples=6, seed=5).run() for i in range(2)]
    assert [e.faults for e in runs[0].examples] == [e.faults for e in runs[1].examples]
