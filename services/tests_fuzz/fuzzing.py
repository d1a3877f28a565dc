"""Hypothesis strategies for hostile HTTP requests, and the one property every
service must keep: whatever arrives, the answer is never a 500.

Requests are drawn for the routes an app really has (read from its url_map,
so a new endpoint is fuzzed without touching this file): every method, path
parameters that are numbers of every size, text or bytes that are not UTF-8,
query strings and JSON bodies shaped by the services' own request schemas
(the right field names with values that are valid, nearly valid or junk, a
field missing, an unknown one added) so that many requests get past
validation into the service layer, objects of random keys, JSON that is not
an object, invalid JSON, absurdly deep nesting, integers past Python's
4300-digit parsing limit, and valid JSON sent as another content type.
"""

from __future__ import annotations

import collections
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_from_bytes, urlsplit

import requests
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import assume
from hypothesis import strategies as st
from marshmallow import Schema
from requests.structures import CaseInsensitiveDict

from shopkit.fields import RequestSchema

# Examples run per test, for the summary the conftest prints.
EXAMPLES: collections.Counter[str] = collections.Counter()

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]

# Every field and query parameter name the services read, so that generated
# objects often get past "unknown field" and into the validators and views.
FIELD_NAMES = [
    "name", "email", "user_id", "sku", "quantity", "client_ref", "stock", "order_ref",
    "limit", "after", "wait", "id", "kind", "share", "status", "latency_ms", "path",
]

# Values that are valid, or nearly, for some field: they reach the service layer.
plausible = st.one_of(
    st.integers(-2, 25),
    st.sampled_from([2**63 - 1, 2**63, 1000, 1001, 0.5, 1.0, "", "SKU-1", "SKU-5", "SKU-404", "sku-1",
                     "user@example.test", "a@b.c", "not-an-email", "ref-1", "error", "latency"]),
)

huge_text = st.integers(1_000, 20_000).map(lambda n: "\U0001f4a5" * n)
# st.text() never makes lone surrogates; JSON can carry them ("\ud800").
surrogates = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
wild_str = st.lists(st.characters() | surrogates | st.just("\x00"), min_size=1, max_size=20).map("".join)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(-(2**80), 2**80),
    st.floats(),  # NaN and infinities too: Python's json reads them
    st.text(max_size=40), wild_str, huge_text,
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=8,
)
objects = st.dictionaries(
    st.sampled_from(FIELD_NAMES) | st.text(max_size=10), plausible | json_values, max_size=6
)
# Lone surrogates and other text that is not valid UTF-8 once encoded.
wild_text = wild_str.map(lambda t: t.encode("utf-8", "surrogatepass"))
raw = st.one_of(plausible.map(lambda v: str(v).encode()), st.binary(max_size=30), wild_text)


def _dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


# Values for the services' field names, mostly valid (existing SKUs and ids)
# or just past a bound; then values by marshmallow field type for the rest.
_BY_NAME = {
    "sku": st.one_of(st.sampled_from([f"SKU-{n}" for n in range(1, 6)]), st.from_regex(r"\ASKU-[0-9]{1,3}\Z")),
    "user_id": st.integers(-1, 25),
    "quantity": st.integers(-1, 1001),
    "stock": st.integers(-1, 10**6),
    "limit": st.integers(-1, 201),
}
_TYPED = {
    "Integer": st.one_of(st.integers(-1, 25), st.sampled_from([0, 1000, 1001, 2**63 - 1, 2**63]), st.integers()),
    "Float": st.one_of(st.floats(-1, 6), st.floats()),
    "Email": st.one_of(
        st.text("abcxyz0189", min_size=1, max_size=12).map(lambda local: f"{local}@example.test"),
        st.sampled_from(["a@", "@b.c", "a" * 250 + "@b.test", "user-1@example.test"]),
    ),
    "String": st.one_of(
        st.from_regex(r"\ASKU-[0-9]{1,2}\Z"), st.text(min_size=1, max_size=30), wild_str,
        st.sampled_from(["", "x" * 101, "a\x00b", "\ud800"]),
    ),
}


@dataclass(frozen=True)
class Route:
    """One URL rule: its methods (HEAD and OPTIONS are left to the
    any-method draws) and the request schemas its views name."""

    rule: str
    methods: list[str]
    schemas: list[Schema]


def target_of(app: Flask) -> list[Route]:
    """The routes of `app`, read from its url_map. A route's schemas are the
    request schemas (of the app's package or shopkit) that its view functions
    refer to: they shape the near-valid requests sent there."""
    schemas, todo = {}, [RequestSchema]
    while todo:
        for sub in todo.pop().__subclasses__():
            todo.append(sub)
            if sub.__module__.split(".")[0] in (app.import_name, "shopkit"):
                schemas.setdefault(sub.__name__, sub())
    methods: dict[str, set[str]] = collections.defaultdict(set)
    named: dict[str, set[str]] = collections.defaultdict(set)
    for rule in app.url_map.iter_rules():
        methods[rule.rule] |= (rule.methods or set()) - {"HEAD", "OPTIONS"}
        named[rule.rule] |= set(app.view_functions[rule.endpoint].__code__.co_names) & set(schemas)
    return [Route(rule, sorted(methods[rule]), [schemas[n] for n in sorted(named[rule])]) for rule in sorted(methods)]


@st.composite
def shaped(draw: st.DrawFn, schemas: list[Schema], as_text: bool = False, junk: int = 5) -> dict[str, Any]:
    """An object with one request schema's fields: required ones almost always
    present, optional ones often; values typed for the field and mostly valid,
    junk one time in `junk`; sometimes an unknown field besides."""
    schema = draw(st.sampled_from(schemas))
    out: dict[str, Any] = {}
    for name, field in schema.fields.items():
        if draw(st.integers(0, 19)) < (19 if field.required else 12):
            typed = _BY_NAME[name] if name in _BY_NAME else _TYPED.get(type(field).__name__, json_values)
            value = draw(typed if draw(st.integers(0, junk - 1)) else plausible | json_values)
            out[name] = str(value) if as_text else value
    if draw(st.integers(0, 9)) == 0:
        extra = draw(plausible)
        out[draw(st.sampled_from(FIELD_NAMES) | st.text(max_size=10))] = str(extra) if as_text else extra
    return out


JSON = "application/json"
_OTHER_BODIES = st.one_of(
    st.just((None, None)),
    objects.map(lambda o: (_dumps(o), JSON)),
    json_values.map(lambda v: (_dumps(v), JSON)),
    st.binary(max_size=200).map(lambda b: (b, JSON)),
    st.integers(1_000, 200_000).map(lambda n: (b"[" * n + b"]" * n, JSON)),
    st.integers(4_301, 10_000).map(lambda n: (b'{"user_id": ' + b"9" * n + b"}", JSON)),
    st.tuples(
        objects.map(_dumps),
        st.sampled_from(["text/plain", "application/x-www-form-urlencoded", "multipart/form-data",
                         "application/json; charset=latin-1", "application/xml", ""]),
    ),
)


def bodies(schemas: list[Schema]) -> st.SearchStrategy[tuple[bytes | None, str | None]]:
    """(body, content type): half shaped by `schemas`, half anything else."""
    return shaped(schemas).map(lambda o: (_dumps(o), JSON)) | _OTHER_BODIES


def _encode(pairs: list[tuple[bytes, bytes]]) -> str:
    return "&".join(f"{quote_from_bytes(k, safe='')}={quote_from_bytes(v, safe='')}" for k, v in pairs)


def _as_bytes(obj: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.encode("utf-8", "surrogatepass"), v.encode("utf-8", "surrogatepass")) for k, v in obj.items()]


def queries(schemas: list[Schema]) -> st.SearchStrategy[str]:
    """A query string: half shaped by `schemas`, half random keys and bytes."""
    return (shaped(schemas, as_text=True).map(_as_bytes) | st.lists(st.tuples(
        st.sampled_from(FIELD_NAMES).map(str.encode) | raw, raw), max_size=4)).map(_encode)


segments = st.one_of(
    st.integers(-2, 25).map(str),
    st.integers(2**62, 2**70).map(str),
    st.sampled_from(["SKU-1", "SKU-404", "0", "-1", "1.5", "1e3", " 1", "..", "%00"]),
    raw.map(lambda b: quote_from_bytes(b, safe="")),
)

_VARIABLE = re.compile(r"<[^>]+>")


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    query: str
    body: bytes | None
    content_type: str | None

    def send(self, client: FlaskClient) -> Any:
        return client.open(
            self.path, method=self.method, query_string=self.query, data=self.body, content_type=self.content_type
        )

    def __repr__(self) -> str:  # what a failure report shows: short enough to read
        body = None if self.body is None else self.body[:200]
        return f"{self.method} {self.path}?{self.query[:200]} [{self.content_type}] {body!r}"


_NOWHERE = [Route(path, METHODS, []) for path in ("/", "/<junk>", "/<junk>/<junk>")]
_BODY_METHODS = {"POST", "PUT", "PATCH"}
ASPECTS = ("bodies", "queries", "paths")


@st.composite
def calls(draw: st.DrawFn, routes: list[Route], aspect: str) -> Call:
    """One request to `routes`, hostile in one `aspect` and near-valid in the
    rest, so the hostile part reaches the code that reads it:

    - "bodies": a route that takes a body, with one of its body methods, and
      a body of any kind (half shaped by the app's schemas);
    - "queries": a GET to any route, with a query string of any kind (half
      shaped by the app's schemas);
    - "paths": any route or none, any method, any path parameters.

    Near-valid means: the route's own methods, numeric path parameters, and
    a body and query string shaped by the route's schemas (or none).
    """
    every_schema = [s for r in routes for s in r.schemas]
    if aspect == "bodies":
        route = draw(st.sampled_from([r for r in routes if _BODY_METHODS & set(r.methods)] or routes))
        method = draw(st.sampled_from(sorted(_BODY_METHODS & set(route.methods)) or METHODS))
    elif aspect == "queries":
        route = draw(st.sampled_from([r for r in routes if "GET" in r.methods] or routes))
        method = "GET"
    else:
        route = draw(st.sampled_from(routes) if draw(st.integers(0, 9)) else st.sampled_from(_NOWHERE))
        method = draw(st.sampled_from(route.methods if draw(st.integers(0, 3)) else METHODS))

    if aspect == "paths":
        path = _VARIABLE.sub(lambda _: draw(segments), route.rule)
        # Werkzeug's test client reads "//x" as a URL with host "x" (and fails
        # on a host like ".." before the app sees anything): no request a
        # client sends over a socket, so not ours to fuzz.
        assume(not path.startswith("//"))
    else:
        path = _VARIABLE.sub(lambda _: str(draw(st.integers(-1, 25))), route.rule)
    if aspect == "bodies":
        body, content_type = draw(bodies(route.schemas or every_schema))
    elif route.schemas and method != "GET":
        body, content_type = _dumps(draw(shaped(route.schemas, junk=10))), JSON
    else:
        body, content_type = None, None
    if aspect == "queries":
        query = draw(queries(route.schemas or every_schema))
    elif route.schemas:
        query = _encode(_as_bytes(draw(shaped(route.schemas, as_text=True, junk=10))))
    else:
        query = ""
    return Call(method, path, query, body, content_type)


# The chaos agent's Prometheus endpoint answers text by contract (docs/agent.md).
METRICS_PATH = "/_chaos/metrics"


def assert_no_500(call: Call, response: Any) -> None:
    """The property: no 500, no other 5xx but the services' own 502 and 503,
    and a JSON answer to everything but HEAD and OPTIONS (and the agent's
    metrics, whose 200 is Prometheus text)."""
    assert response.status_code != 500, f"{call!r} -> 500 {response.data[:300]!r}"
    assert response.status_code < 500 or response.status_code in (502, 503), f"{call!r} -> {response.status_code}"
    if call.method in ("HEAD", "OPTIONS"):
        return
    if call.path == METRICS_PATH and response.status_code == 200:
        assert response.content_type.startswith("text/plain"), f"{call!r} -> {response.content_type}"
    else:
        assert response.is_json, f"{call!r} -> {response.status_code} {response.content_type} {response.data[:200]!r}"


class InProcess(requests.adapters.BaseAdapter):
    """A requests transport answered by a Flask app in this process: lets a
    service's real downstream client (session, breaker, timeouts and all)
    call a real downstream service without a socket or a thread."""

    def __init__(self, app: Flask) -> None:
        super().__init__()
        self.client = app.test_client()

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        url = urlsplit(request.url)
        answer = self.client.open(
            url.path, method=request.method, query_string=url.query,
            data=request.body, content_type=request.headers.get("Content-Type"),
        )
        response = requests.Response()
        response.status_code = answer.status_code
        response.reason = answer.status.partition(" ")[2]
        response.headers = CaseInsensitiveDict(answer.headers)
        response._content = answer.data
        response.url = request.url
        response.request = request
        return response

    def close(self) -> None:
        pass


def connect(app: Flask, downstream: str, target: Flask) -> None:
    """Make `app`'s client for `downstream` reach `target` in process; its
    base URL must be http://<downstream>.fuzz."""
    client = app.extensions["shopkit.downstreams"][downstream]
    assert client.base_url == f"http://{downstream}.fuzz", client.base_url
    client.session.mount(client.base_url, InProcess(target))
