"""The report as a person sees it: opened in headless Chromium, with no
network, the plot and the verdict table must render, the screenshot must
not be blank, and the console must stay free of errors.

Skips without Chromium on a laptop; fails without it when CI=true."""

from __future__ import annotations

import time

import pytest

from chaos.checks import evaluate_all
from chaos.spec.options import RunOptions
from chaos.report import run_info, write_run_folder
from chaos.spec.scenario import load_scenario

from .. import browser
from ..browser import assert_report_renders, ink, open_page
from .histories import T0, run


def test_the_report_renders_in_chromium_with_its_plot_and_verdicts(tmp_path, system):
    scenario = load_scenario(system.scenarios_dir / "order-down.yaml", system)
    history = run(lost=1)  # one failing check, so both kinds of row are drawn
    verdicts = evaluate_all(scenario.checks, history, system)
    info = run_info(scenario, "render", T0, 33.0, False, RunOptions("on", "local"))
    report = write_run_folder(tmp_path / "run", history, verdicts, info)
    statuses = assert_report_renders(report, tmp_path, checks=6)
    assert statuses == [v.status for v in verdicts] and "fail" in statuses


def test_the_render_check_sees_errors_and_blank_plots(tmp_path):
    """The harness can fail: a script error and an empty plot area are caught."""
    page_file = tmp_path / "broken.html"
    page_file.write_text('<html><body><div id="timeline" style="width:400px;height:200px"></div>'
                         "<script>undefinedFunction()</script></body></html>")
    with open_page(page_file) as page:
        blank = page.screenshot("#timeline")
        time.sleep(0.2)
        page.evaluate("1")  # let queued events arrive
        assert any("undefinedFunction" in e for e in page.errors), page.errors
    covered, colours = ink(blank)
    assert covered < 0.01 and colours < 5


def test_without_chromium_a_laptop_skips_and_ci_fails(monkeypatch):
    monkeypatch.setattr(browser, "find_chromium", lambda: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no Chromium found"):
        browser.require_chromium()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true and no Chromium"):
        browser.require_chromium()
