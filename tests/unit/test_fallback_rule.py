"""A system file's `fallback:` rule is how the load tells an app's own
fallback answers (a JSON 503, a field) from full ones: declared, it must be
applied to every answer, not only believed by the blind-spot checks."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from requests.structures import CaseInsensitiveDict

from chaos.engine.load import LoadGenerator
from chaos.history import History, Request
from chaos.spec import load_system
from chaos.spec.system import AGENT_FALLBACK, FallbackSpec, System

ROOT = Path(__file__).resolve().parents[2]


def headers(**kw: str) -> CaseInsensitiveDict:
    return CaseInsensitiveDict({k.replace("_", "-"): v for k, v in kw.items()})


def no_body():
    raise AssertionError("the body is read only for a json rule")


def test_the_agents_headers_name_the_breaker_and_reason():
    assert AGENT_FALLBACK.match(200, headers(x_fallback="stock", x_fallback_reason="breaker-open"), no_body) == ("stock", "breaker-open")
    assert AGENT_FALLBACK.match(503, headers(), no_body) == (None, None)


def test_a_status_rule_makes_that_status_a_fallback():
    rule = FallbackSpec(status=[503])
    assert rule.match(503, headers(), no_body) == ("status 503", None)
    assert rule.match(500, headers(), no_body) == (None, None)
    assert rule.match(200, headers(x_fallback="stock"), no_body) == (None, None)  # the rule replaces the agent's headers


def test_a_json_rule_reads_a_true_or_text_field():
    rule = FallbackSpec(json="degraded")
    assert rule.match(200, headers(), lambda: {"degraded": True}) == ("degraded", None)
    assert rule.match(200, headers(), lambda: {"degraded": "cache"}) == ("cache", None)
    for body in ({"degraded": False}, {"degraded": ""}, {}, [1], None):
        assert rule.match(200, headers(), lambda body=body: body) == (None, None)

    def not_json():
        raise requests.JSONDecodeError("Expecting value", "<html>", 0)

    assert rule.match(200, headers(), not_json) == (None, None)


def test_a_header_rule_with_its_reason_header_any_case():
    rule = FallbackSpec(header="X-Degraded", reason_header="X-Why")
    assert rule.match(200, headers(x_degraded="cache", x_why="stock down"), no_body) == ("cache", "stock down")
    assert rule.match(200, CaseInsensitiveDict({"x-degraded": "cache"}), no_body) == ("cache", None)


class _Answers(BaseHTTPRequestHandler):
    """Answers every GET with `status` and `body`, and no fallback header."""

    status, body = 200, {}

    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):
        data = json.dumps(self.body).encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.mark.parametrize(("status", "body", "fallback"), [
    (503, {"error": "breaker open", "degraded": True}, "status 503"),
    (200, {"item": 1, "stock": 3}, None),
])
def test_the_load_records_the_declared_fallback_of_an_app_that_sends_no_header(status, body, fallback):
    system = load_system(ROOT / "examples" / "circuitbreaker-shop" / "system.yaml")
    assert system.services["front"].fallback == FallbackSpec(status=[503])
    _Answers.status, _Answers.body = status, body
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    front = system.services["front"].model_copy(update={"port": httpd.server_address[1]})
    system = System(system.spec.model_copy(update={"services": {**system.services, "front": front}}), system.path,
                    list(system.proxies.values()))
    history = History()
    load = LoadGenerator(system, {"item": 1}, 20.0, 1.0, history, seed=1)
    try:
        load.start()
        time.sleep(0.3)
    finally:
        load.stop()
        httpd.shutdown()
        httpd.server_close()
    requests_seen = history.of(Request)
    assert requests_seen and all(r.status == status and r.fallback == fallback for r in requests_seen)
    assert all(r.ok is (fallback is None) for r in requests_seen)
