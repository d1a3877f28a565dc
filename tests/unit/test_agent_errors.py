"""What the agent client says when a service answers outside the contract."""

from __future__ import annotations

import requests

from chaos.clients.agent import _error_text

FLASK_404 = ('<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n'
             '<p>The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.</p>\n')


def answer(status: int, body: str, content_type: str) -> requests.Response:
    r = requests.Response()
    r.status_code, r.reason, r._content = status, "NOT FOUND", body.encode()
    r.headers["Content-Type"] = content_type
    return r


def test_an_html_error_page_is_told_by_its_title_not_a_cut_of_its_markup():
    # Seen with the agent switched off: the verdict's evidence quoted five
    # lines of Flask's 404 page, cut mid-sentence.
    assert _error_text(answer(404, FLASK_404, "text/html; charset=utf-8")) == "404 Not Found"
    assert _error_text(answer(404, "<html><body>nope</body></html>", "text/html")) == "NOT FOUND"


def test_json_errors_and_plain_text_are_quoted():
    assert _error_text(answer(400, '{"error": "invalid query"}', "application/json")) == "invalid query"
    assert _error_text(answer(502, "bad gateway\n", "text/plain")) == "bad gateway"
