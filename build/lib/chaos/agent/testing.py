"""Checking an app's agent against the contract in its own tests.

    from chaos.agent.testing import contract_client
    client = contract_client(app)        # app.test_client(), but every reply of the agent is checked
    client.get("/_chaos/breakers")       # AssertionError / ValidationError if it breaks the contract

Every JSON reply under the agent's prefix is validated against its JSON
Schema (chaos.contract), error replies against the error schema, metrics must
be Prometheus text, and an assault body the agent takes (or refuses) must be
valid (or invalid) by the assault schema too. Needs jsonschema
(`pip install jsonschema`), which the agent itself does not.
"""

from __future__ import annotations

from typing import Any

import jsonschema
from flask import Flask
from flask.testing import FlaskClient

from chaos.contract import schema

_validators = {name: jsonschema.Draft202012Validator(schema(name))
               for name in ("index", "breakers", "transitions", "assaults", "error")}
# JSON Schema calls 500.0 an integer; the agent, like JSON readers in typed
# languages, refuses it. The body check below uses the strict reading.
_Strict = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _, value: isinstance(value, int) and not isinstance(value, bool)),
)
_validators["assault"] = _Strict(schema("assault"), format_checker=jsonschema.FormatChecker())


def schema_for(prefix: str, path: str, status: int) -> str | None:
    """The contract schema a reply to `path` must follow, None when it is not the agent's (or metrics)."""
    if path != prefix and not path.startswith(prefix + "/"):
        return None
    if status >= 400:
        return "error"
    return {prefix: "index", f"{prefix}/breakers": "breakers", f"{prefix}/breakers/transitions": "transitions",
            f"{prefix}/assaults": "assaults"}.get(path)


class ContractClient(FlaskClient):
    """A Flask test client that checks every reply of the agent against the
    contract: JSON replies against their schema, metrics as Prometheus text;
    and an assault body the agent accepts (or refuses) must be valid (or
    invalid) by the `assault` schema too."""

    prefix = "/_chaos"
    checked = 0

    def open(self, *args: Any, **kwargs: Any) -> Any:
        body = kwargs.get("json", _MISSING)
        response = super().open(*args, **kwargs)
        path = response.request.path
        method = response.request.method
        if method in ("HEAD", "OPTIONS") or response.status_code == 308:  # Flask answers these itself, with no body
            return response
        name = schema_for(self.prefix, path, response.status_code)
        if path == f"{self.prefix}/metrics" and response.status_code == 200:
            assert response.content_type.startswith("text/plain; version="), response.content_type
        elif name is not None or (path.startswith(self.prefix) and response.status_code >= 400):
            assert response.is_json, (path, response.status_code, response.data[:200])
            _validators[name or "error"].validate(response.get_json())
            ContractClient.checked += 1
        if path == f"{self.prefix}/assaults" and method in ("PUT", "POST") and body is not _MISSING:
            valid = _validators["assault"].is_valid(body)
            if response.status_code == 200:
                assert valid, f"the agent took {body!r} but the assault schema refuses it"
            elif response.status_code == 400:
                assert not valid, f"the agent refused {body!r} but the assault schema takes it"
        return response


_MISSING = object()


def contract_client(app: Flask, prefix: str = "/_chaos") -> FlaskClient:
    """`app`'s test client, validating the agent's replies under `prefix`."""
    app.test_client_class = type("Client", (ContractClient,), {"prefix": prefix})
    return app.test_client()
