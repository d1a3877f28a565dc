#!/usr/bin/env bash
# `make test` and `make test-long`: the unit tests beside the integration
# tests, not after them.
#
# The integration tests spend most of their time waiting on real scenarios
# (30 s of load at 30 req/s and faults that last seconds); the unit tests need
# CPU and no fixed port. Run at the lowest priority (nice 19), the unit tests
# take only the CPU the integration tests leave idle, so a run takes about as
# long as the integration tests alone instead of the sum of both. The unit
# tests' output is printed when both have ended; either failing fails the run.
# Their processes carry CHAOS_TEST_LANE=unit, so the integration tests' check
# for orphaned services (tests/integration/cleanliness.py) leaves them alone.
#
#   tests/lanes.sh PYTHON MARKER [PYTEST_ARGS...]   (MARKER: "not long", or "" for all)
set -uo pipefail
py=$1
marker=$2
shift 2
both=${marker:+ and $marker}
log=$(mktemp)
# In a session of its own, whose autogroup gets nice 19 too: with the kernel's
# autogroups (sched_autogroup_enabled, on here and on CI machines alike) CPU is
# shared between sessions first and by nice only inside one, so a nice-19 lane
# in the integration tests' own session spends that session's share, and the
# runner's load generator waits behind every service for it: measured, two
# nice-19 busy loops in the same session took the generator's lag p99 at
# 30 req/s to 141 ms (past its 100 ms bound: UNKNOWN, "load not delivered",
# red CI twice); in a session of their own, 9 ms.
CHAOS_TEST_LANE=unit setsid bash -c 'echo 19 > /proc/self/autogroup 2>/dev/null; exec nice -n 19 "$@"' unit-lane \
    "$py" -m pytest -m "not integration$both" -p no:cacheprovider "$@" >"$log" 2>&1 &
unit=$!
trap 'kill -- -"$unit" 2>/dev/null; kill "$unit" 2>/dev/null; rm -f "$log"' EXIT
"$py" -m pytest -m "integration$both" "$@"
integration=$?
wait "$unit"
unit_rc=$?
echo
echo "=== unit tests (run beside the integration tests, at nice 19): exit $unit_rc"
cat "$log"
echo "=== integration tests: exit $integration"
[ "$integration" -eq 0 ] && [ "$unit_rc" -eq 0 ]
