"""The inventory service layer."""

from __future__ import annotations

import pytest

from inventory import services


def test_reserve_reports_whether_it_created(app) -> None:
    with app.app_context():
        first = services.reserve("SKU-2", 3, "ref")
        again = services.reserve("SKU-5", 9, "ref")
        assert (first.created, again.created) == (True, False)
        assert again.reservation == first.reservation
        assert services.get_item("SKU-2").stock == 7
        assert services.get_item("SKU-5").stock == 10


def test_reserve_refusals_take_nothing(app) -> None:
    with app.app_context():
        with pytest.raises(services.UnknownSku):
            services.reserve("NOPE", 1, "a")
        with pytest.raises(services.OutOfStock):
            services.reserve("SKU-1", 11, "b")
        assert services.get_item("SKU-1").stock == 10


def test_add_item_refuses_a_taken_sku(app) -> None:
    with app.app_context():
        services.add_item("X-1", "x", 1)
        with pytest.raises(services.ItemExists):
            services.add_item("X-1", "y", 2)
