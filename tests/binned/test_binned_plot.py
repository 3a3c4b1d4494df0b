"""Template plots: nominal and ±1σ per process, drawn on a given or a new axes."""

from __future__ import annotations

import pytest

from unbinned.binned import build_templates, plot_templates
from unbinned.binned._toy import toy_problem
from unbinned.exceptions import ConfigError

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
plt = pytest.importorskip("matplotlib.pyplot")


def test_plot_templates_returns_the_artists() -> None:
    spec, nominal, variations = toy_problem(n_mc=200)
    t = build_templates(spec, nominal, variations, n_bins=5)
    _fig, ax = plt.subplots()
    artists = plot_templates(t, "low", "htautau", ax=ax)
    assert len(artists) == 1 + 2 * len(t.shape_nuisances)
    assert all(a.axes is ax for a in artists)
    rel = plot_templates(t, "high", "ztautau", ["tes"], relative=True)
    assert len(rel) == 3
    assert rel[0].axes is not ax
    with pytest.raises(ConfigError, match="no process"):
        plot_templates(t, "low", "qcd", ax=ax)
    with pytest.raises(ConfigError, match="no templates of"):
        plot_templates(t, "low", "htautau", ["soft_met"], ax=ax)
    plt.close("all")
