"""chaos explore's schedules: every one drawn is a valid scenario for the
system it was drawn for, fits the system (no fault on the entrypoint, no
runtime-bound kind elsewhere, no two faults on one target), ends before its
scenario does, and shrinks towards what a person reads at once."""

from pathlib import Path
from random import Random

import pytest
import yaml
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

from chaos.engine import schedules as sch
from chaos.faults import FAULTS, Instant
from chaos.report.explore import write_scenario
from chaos.spec import load_system
from chaos.spec.scenario import find_scenario, list_scenarios, load_scenario, scenario_from_data

ROOT = Path(__file__).resolve().parents[2]
SYSTEMS = [ROOT / "system.yaml", ROOT / "examples/pybreaker-shop/system.yaml", ROOT / "examples/circuitbreaker-shop/system.yaml"]
PROFILE = sch.Profile()
QUICK = settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))


@pytest.mark.parametrize("path", SYSTEMS, ids=lambda p: p.parent.name if p.name == "system.yaml" and p.parent != ROOT else "shop")
def test_every_schedule_is_a_valid_scenario_that_fits_its_system(path):
    system = load_system(path)
    cat = sch.catalogue(system)
    entry = system.spec.entrypoint

    @QUICK
    @given(sch.schedules(cat, PROFILE))
    def check(faults):
        data = sch.scenario_data(faults, system, PROFILE, "example-0001", "an example")
        scenario = scenario_from_data(data, system)  # refuses anything the model or the system file would
        assert 1 <= len(scenario.faults) <= PROFILE.max_faults
        assert len({sch.resource(f) for f in faults}) == len(faults)
        for f in faults:
            assert f.get("service") != entry
            assert f["kind"] in cat.kinds
            if issubclass(FAULTS[f["kind"]], Instant):
                assert "duration" not in f and "flap" not in f
        last_end = max(sch.fault_end(f) for f in faults)
        assert last_end + PROFILE.tail <= scenario.duration  # every breaker has its reset timeout + bound after the faults
        assert min(float(f["at"][:-1]) for f in faults) >= PROFILE.baseline
        kinds = {c.kind for c in scenario.checks}
        assert {"containment", "no_unmarked_5xx"} <= kinds
        assert ("writes_durable" in kinds) == any(r.write is not None for r in system.routes.values())
        hit = frozenset().union(*(sch.fault_targets(f, system) for f in faults))
        judged = {c.breaker for c in scenario.checks if c.kind in ("fails_fast", "breaker_recovers")}
        assert judged == {b for b, e in system.breakers.items() if e.target in hit}

    check()


def test_the_catalogue_leaves_out_runtime_bound_kinds_and_says_why(system):
    local, docker = sch.catalogue(system, "local"), sch.catalogue(system, "docker")
    assert "network_partition" not in local.kinds and "docker" in local.left_out["network_partition"]
    assert "docker" not in docker.left_out["network_partition"]  # it fits there; left out only for want of a parameter strategy
    assert all(t != ("service", "gateway") for targets in local.targets.values() for t in targets)
    assert local.kinds[:3] == ("down", "kill", "latency")


def test_latencies_are_far_past_or_well_under_the_edges_read_timeout(system):
    cat = sch.catalogue(system)

    @QUICK
    @given(sch.schedules(cat, PROFILE))
    def check(faults):
        for f in faults:
            if f["kind"] == "latency":
                timeout_ms = system.edges[f["edge"]].read_timeout * 1000
                assert f["latency"] >= 1.5 * timeout_ms or f["latency"] <= 0.1 * timeout_ms

    check()


def test_shrinking_moves_towards_one_short_early_fault_of_the_simplest_kind(system):
    cat = sch.catalogue(system)
    strategy = sch.schedules(cat, PROFILE)
    minimal = find(strategy, lambda faults: True, settings=settings(database=None))
    assert minimal == [{"kind": "down", "edge": "gateway->users", "at": "2.5s", "duration": "3.5s"}]
    # Asked for a slow gateway->orders, it keeps only that: one fault, the
    # longest latency first (the breaker's case), at once, shortest, no flap.
    # (The shrinker does not always delete a list's first entry when the
    # entries must differ: then what is left of it is the simplest fault too.)
    simplest = {"kind": "down", "edge": "gateway->users", "at": "2.5s", "duration": "3.5s"}
    for seed in range(2):
        slow = find(strategy, lambda fs: any(f["kind"] == "latency" and f["edge"] == "gateway->orders" for f in fs),
                    settings=settings(database=None, max_examples=2000), random=Random(seed))
        assert slow[-1] == {"kind": "latency", "edge": "gateway->orders", "latency": 3000, "at": "2.5s", "duration": "3.5s"}
        assert slow[:-1] in ([], [simplest])
        overlapping = find(strategy, sch.overlaps, settings=settings(database=None, max_examples=2000), random=Random(seed))
        assert len(overlapping) == 2 and [f["kind"] for f in overlapping] == ["down", "down"]


def test_a_written_scenario_loads_validates_and_round_trips(system, tmp_path):
    faults = [{"kind": "latency", "edge": "gateway->orders", "latency": 3000, "at": "2.5s", "duration": "4s",
               "flap": {"on": "1s", "off": "2s"}},
              {"kind": "restart", "service": "inventory", "at": "3s"}]
    data = sch.scenario_data(faults, system, PROFILE, "containment-abc123", "Found by chaos explore: a test.",
                             checks=[{"kind": "containment"}])
    path = tmp_path / "found" / "containment-abc123.yaml"
    write_scenario(path, data, "off", tmp_path)
    text = path.read_text()
    assert text.startswith("# Written by chaos explore") and "make chaos SCENARIO=found/containment-abc123 BREAKERS=off" in text
    assert yaml.safe_load(text) == data
    write_scenario(path, data, "on", tmp_path / "elsewhere")  # outside the scenarios folder: by its path
    assert f"make chaos SCENARIO={path}   (or: chaos run {path} --breakers on)" in path.read_text()
    write_scenario(path, data, "off", tmp_path)
    scenario = load_scenario(path, system)
    assert scenario.name == "containment-abc123" and [c.kind for c in scenario.checks] == ["containment"]
    assert [f.kind for f in scenario.faults] == ["latency", "restart"]
    # Its services run with the system file's explore settings, on every breaker owner.
    moved = scenario.system_for(system)
    assert moved.services["gateway"].env["SHOP_BREAKER_RESET_TIMEOUT"] == "2"
    assert moved.services["orders"].env["SHOP_BREAKER_RESET_TIMEOUT"] == "2"
    assert moved.services["users"].env["SHOP_BREAKER_RESET_TIMEOUT"] == "2"  # its outbox relay's breaker on Redis
    assert "SHOP_BREAKER_RESET_TIMEOUT" not in moved.services["inventory"].env
    assert "SHOP_BREAKER_RESET_TIMEOUT" not in system.services["gateway"].env  # the loaded system is left alone


def test_found_scenarios_resolve_by_subfolder_name_and_stay_out_of_the_library(system, tmp_path, monkeypatch):
    found = system.scenarios_dir / "found"
    created = not found.exists()
    path = found / "zz-test-only.yaml"
    try:
        found.mkdir(exist_ok=True)
        path.write_text("name: zz-test-only\n")
        monkeypatch.chdir(tmp_path)  # the name resolves in the scenarios folder, not the working directory
        assert find_scenario("found/zz-test-only", system) == path
        assert "zz-test-only" not in list_scenarios(system)
    finally:
        path.unlink()
        if created:
            found.rmdir()


@given(st.data())
@settings(max_examples=30, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_describe_and_overlaps_read_any_schedule(data):
    system = load_system(ROOT / "system.yaml")
    faults = data.draw(sch.schedules(sch.catalogue(system), PROFILE))
    line = sch.describe(faults)
    assert line.count(";") == len(faults) - 1 and all(f["kind"] in line for f in faults)
    assert isinstance(sch.overlaps(faults), bool)
