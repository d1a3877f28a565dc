"""bench.runtimes reads image names from compose.yaml as compose would: the
shop's images carry `${CHAOS_IMAGE_TAG:-latest}` (the image-size table once
asked Docker for that text as a name, and the bench died after measuring)."""

from __future__ import annotations

import pytest

from bench.runtimes import _interpolate


@pytest.mark.parametrize("env,text,expected", [
    ({}, "flask-chaos/redis:${CHAOS_IMAGE_TAG:-latest}", "flask-chaos/redis:latest"),
    ({"CHAOS_IMAGE_TAG": ""}, "x:${CHAOS_IMAGE_TAG:-latest}", "x:latest"),  # :- takes the default for empty too
    ({"CHAOS_IMAGE_TAG": "wave2"}, "x:${CHAOS_IMAGE_TAG:-latest}", "x:wave2"),
    ({"CHAOS_IMAGE_TAG": "wave2"}, "x:${CHAOS_IMAGE_TAG}", "x:wave2"),
    ({}, "x:${CHAOS_IMAGE_TAG}", "x:"),
    ({}, "flask-chaos/toxiproxy:2.12.0", "flask-chaos/toxiproxy:2.12.0"),
])
def test_image_names_are_interpolated_as_compose_does(monkeypatch, env, text, expected):
    monkeypatch.delenv("CHAOS_IMAGE_TAG", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert _interpolate(text) == expected
