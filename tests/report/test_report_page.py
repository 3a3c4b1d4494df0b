from __future__ import annotations

import json
import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest

from unbinned.exceptions import ConfigError
from unbinned.report import Cell, Figure, Section, Table, figure_png, format_number, write_report
from unbinned.report.browser import dump_dom, find_chromium


def _page(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    summary = {"results": {"mu": 1.23456789, "lo": 0.9, "n": 7, "bad": float("nan")}}
    sections = [
        Section("Results", "text", [Table("fit", ["quantity", "value"], [
            ["mu", Cell(key="results.mu")], ["n", Cell(key="results.n")],
            ["bad", Cell(key="results.bad")]])],
            [Figure("line", "a line", figure_png(fig))]),
    ]  # fmt: skip
    return write_report(tmp_path / "rep", "Test report", sections, summary), summary


def test_format_number():
    assert format_number(1.23456789) == "1.235"
    assert format_number(None) == "n/a"
    assert format_number(float("inf")) == "n/a"
    assert format_number(3) == "3"


def test_report_is_self_contained_and_keys_resolve(tmp_path):
    (html_path, json_path), summary = _page(tmp_path)
    text = html_path.read_text()
    assert "http://" not in text
    assert "https://" not in text
    assert 'data-key="results.mu">1.235<' in text
    assert json.loads(json_path.read_text())["results"]["n"] == 7
    with pytest.raises(ConfigError, match="no key"):
        write_report(tmp_path, "t", [Section("s", tables=[Table("c", ["a"], [[Cell(key="x.y")]])])],
                     summary)  # fmt: skip


def test_failed_checks_are_a_banner_under_the_title(tmp_path):
    html_path, _ = write_report(tmp_path, "T", [Section("s")], {},
                                warnings=["Fisher closure: 1.3 > 1 <too narrow>"])  # fmt: skip
    text = html_path.read_text()
    banner = re.search(r'<div class="warnings" id="warnings" role="alert">(.*?)</div>', text)
    assert banner is not None
    assert "1 failed self-check:" in banner.group(1)
    assert "<li>WARNING: Fisher closure: 1.3 &gt; 1 &lt;too narrow&gt;</li>" in banner.group(1)
    assert text.index("<h1>") < banner.start() < text.index("<section")
    clean, _ = write_report(tmp_path / "clean", "T", [Section("s")], {})
    assert 'id="warnings"' not in clean.read_text()


def need_chromium() -> None:
    if find_chromium() is None:
        pytest.skip(
            "headless Chromium not installed (Debian package 'chromium'); `make test` "
            "installs it with `apt-get install -y chromium`"
        )


def test_report_renders_in_headless_chromium(tmp_path):
    need_chromium()
    (html_path, _), _ = _page(tmp_path)
    dom = dump_dom(html_path)
    assert re.search(r'data-images-loaded="1"', dom), dom[:500]
    assert 'data-key="results.mu">1.235<' in dom
