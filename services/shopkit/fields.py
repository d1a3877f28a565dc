"""Request fields shared by the services, so each rule is written once.

The gateway validates the same bodies that users and orders validate again, so
both sides build their schemas from these fields and cannot drift apart.
Strings are also checked to be storable: JSON may carry lone surrogates
(`"\\ud800"`) and NUL characters that SQLite cannot store or compare, and they
must be a 400, never a 500.
"""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

# SQLite's INTEGER is 64-bit signed; a larger id could never exist and would
# overflow when bound as a parameter.
MAX_ID = 2**63 - 1

# \Z, not $: "$" also matches before a trailing newline.
SKU_PATTERN = r"^[A-Z0-9-]{1,32}\Z"
MAX_QUANTITY = 1000


class RequestSchema(Schema):
    """Base of every request schema: unknown fields are an error (400)."""

    class Meta:
        unknown = RAISE


def storable(value: str) -> None:
    """Reject text SQLite cannot store faithfully (NUL, lone surrogates)."""
    if "\x00" in value:
        raise ValidationError("Must not contain NUL characters.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError("Must be valid Unicode text.") from None


def text(min_length: int = 1, max_length: int = 100, **kwargs: Any) -> fields.String:
    """A required-length, storable string."""
    return fields.String(validate=[validate.Length(min_length, max_length), storable], **kwargs)


def entity_id(*, in_query: bool = False, **kwargs: Any) -> fields.Integer:
    """A row id, 1..MAX_ID. JSON bodies must send a number; query strings a digit string."""
    return fields.Integer(strict=not in_query, validate=validate.Range(1, MAX_ID), **kwargs)


def sku(**kwargs: Any) -> fields.String:
    """A stock-keeping unit code: upper-case letters, digits and dashes, 1..32 long."""
    return fields.String(
        validate=validate.Regexp(SKU_PATTERN, error="Must be 1 to 32 of A-Z, 0-9 and '-'."),
        **kwargs,
    )


def quantity(**kwargs: Any) -> fields.Integer:
    """How many units of one SKU: 1..MAX_QUANTITY."""
    return fields.Integer(strict=True, validate=validate.Range(1, MAX_QUANTITY), **kwargs)


def reference(**kwargs: Any) -> fields.String:
    """A client-chosen idempotency key (client_ref, order_ref): 1..64 characters."""
    return text(1, 64, **kwargs)


def email(**kwargs: Any) -> fields.Email:
    """An e-mail address that fits the usual 254-character limit."""
    return fields.Email(validate=[validate.Length(max=254), storable], **kwargs)


def limit(default: int, maximum: int) -> fields.Integer:
    """A page size taken from the query string: 1..maximum, `default` when absent."""
    return fields.Integer(validate=validate.Range(1, maximum), load_default=default)
