"""Every endpoint of every service, fuzzed in process: whatever the request,
the answer is never a 500 (see tests_fuzz.fuzzing for what is generated)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests_fuzz.fuzzing import ASPECTS, EXAMPLES, Call, assert_no_500, calls, json_values, target_of

# The gateway and orders run twice: with their downstreams real (in process)
# and with every downstream refusing connections (503s and fallbacks).
SERVICES = ["users", "inventory", "orders", "orders-alone", "gateway", "gateway-alone"]

# Not loopback: the chaos agent refuses such a caller every control request
# (403), so fuzzing /_chaos/assaults here can never switch on an assault that
# answers 500 on purpose. The assaults are fuzzed from loopback below.
REMOTE_ADDR = "192.0.2.7"


@pytest.mark.parametrize("aspect", ASPECTS)
@pytest.mark.parametrize("service", SERVICES)
def test_no_request_gets_a_500(apps, service, aspect):
    app = apps[service]
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = REMOTE_ADDR

    @given(calls(target_of(app), aspect))
    def fuzz(call: Call) -> None:
        EXAMPLES[f"{service} {aspect}"] += 1
        assert_no_500(call, call.send(client))

    fuzz()


ASSAULT_FIELDS = {
    "kind": st.sampled_from(["error", "exception", "latency", "boom", ""]),
    "share": st.one_of(st.floats(), st.integers(), st.text(max_size=5), st.booleans()),
    "status": st.one_of(st.integers(490, 610), st.integers(), st.floats(), st.text(max_size=5)),
    "latency_ms": st.one_of(st.integers(-5, 70_000), st.integers(), st.floats(), st.none()),
    "path": st.one_of(st.text(max_size=20), st.sampled_from(["(", "[", "^/orders", "*", "\\"]), st.integers()),
}


def test_the_assaults_control_endpoint_answers_200_or_400(apps_with_assaults):
    """The chaos agent's assaults control endpoint, as every service has it."""
    client = apps_with_assaults.test_client()
    bodies = st.fixed_dictionaries({}, optional={**ASSAULT_FIELDS, "junk": st.integers()}) | json_values

    @given(bodies, st.sampled_from(["PUT", "POST"]))
    def fuzz(body: Any, method: str) -> None:
        EXAMPLES["assaults control"] += 1
        try:
            response = client.open("/_chaos/assaults", method=method, data=json.dumps(body), content_type="application/json")
            assert response.status_code in (200, 400), (body, response.status_code, response.data[:300])
            if response.status_code == 400:
                sent = set(body) if isinstance(body, dict) else set()  # unknown ones are named too
                assert set(response.json["fields"]) <= {*ASSAULT_FIELDS, *sent, "_body", "_schema"}, response.json
            assert client.get("/health").status_code == 200  # never assaulted, whatever was set
        finally:
            client.delete("/_chaos/assaults")

    fuzz()


def test_assaulted_requests_get_the_injected_answer_and_nothing_else(apps_with_assaults):
    """With an assault active the service still never answers a 500 it did
    not inject: every 5xx carries the injected marker."""
    app = apps_with_assaults
    client = app.test_client()
    assert client.put("/_chaos/assaults", json={"kind": "error", "status": 503, "share": 0.5}).status_code == 200
    try:

        @given(st.sampled_from(ASPECTS).flatmap(lambda aspect: calls(target_of(app), aspect)))
        def fuzz(call: Call) -> None:
            EXAMPLES["users with an assault"] += 1
            response = call.send(client)
            if any(call.path == p or call.path.startswith(p + "/") for p in ("/health", "/_chaos")):
                assert "X-Chaos-Assault" not in response.headers, call
            if response.headers.get("X-Chaos-Assault"):
                assert response.status_code == 503
                assert call.method == "HEAD" or response.json["injected"] is True  # HEAD has no body
            else:
                assert_no_500(call, response)

        fuzz()
    finally:
        client.delete("/_chaos/assaults")
