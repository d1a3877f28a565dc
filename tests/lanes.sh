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
CHAOS_TEST_LANE=unit nice -n 19 "$py" -m pytest -m "not integration$both" -p no:cacheprovider "$@" >"$log" 2>&1 &
unit=$!
trap 'kill "$unit" 2>/dev/null; rm -f "$log"' EXIT
"$py" -m pytest -m "integration$both" "$@"
integration=$?
wait "$unit"
unit_rc=$?
echo
echo "=== unit tests (run beside the integration tests, at nice 19): exit $unit_rc"
cat "$log"
echo "=== integration tests: exit $integration"
[ "$integration" -eq 0 ] && [ "$unit_rc" -eq 0 ]
