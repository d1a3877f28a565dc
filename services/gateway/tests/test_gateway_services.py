"""The gateway service layer: composing a profile."""

from __future__ import annotations

import pytest

from gateway import services
from gateway.models import Profile


def test_profile_composes_user_and_orders(app) -> None:
    with app.app_context():
        profile = services.profile(2)
    assert isinstance(profile, Profile)
    assert profile.user["id"] == 2
    assert profile.orders == []
    assert (profile.degraded, profile.fallback_reason) == (False, None)


def test_profile_raises_refused_for_a_missing_user(app) -> None:
    with app.app_context(), pytest.raises(services.Refused) as caught:
        services.profile(404)
    assert caught.value.reply.status == 404


def test_profile_without_orders_names_the_reason(make_gateway, users_url, refused_url) -> None:
    with make_gateway(users_url, refused_url).app_context():
        profile = services.profile(1)
    assert profile.orders is None
    assert (profile.degraded, profile.fallback_reason) == (True, "connection")
    assert profile.to_json() == {"user": profile.user, "orders": None, "degraded": True}
