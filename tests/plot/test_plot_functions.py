from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from unbinned.analysis import Scan2D
from unbinned.exceptions import ConfigError, DataError
from unbinned.infer import FisherResult, FitResult, Impact, ProfileScan, Pull
from unbinned.ml.diagnostics import ReliabilityDiagram
from unbinned.plot import (
    plot_calibration,
    plot_coverage,
    plot_fisher_comparison,
    plot_impacts,
    plot_mu_hat_vs_mu,
    plot_pulls,
    plot_reweighting,
    plot_scan,
    plot_scan_2d,
)


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _scan(width: float) -> ProfileScan:
    x = np.linspace(0, 2, 11)
    return ProfileScan("mu", x, ((x - 1) / width) ** 2, np.ones(11, bool), 1.0)


def _toys(n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    mu = rng.uniform(0.1, 3, n)
    hat = mu + rng.normal(0, 0.2, n)
    return pd.DataFrame({"seed": range(n), "mu_true": mu, "mu_hat": hat, "p16": hat - 0.2,
                         "p84": hat + 0.2, "valid": True, "error": None})  # fmt: skip


def test_scan_overlays_methods_and_levels():
    artists = plot_scan({"unbinned": _scan(0.2), "binned": _scan(0.3)})
    assert len(artists) == 4
    ax = artists[0].axes
    assert [t.get_text() for t in ax.get_legend().get_texts()][:2] == ["unbinned", "binned"]
    assert artists[2].get_ydata()[0] == pytest.approx(1.0)
    assert artists[3].get_ydata()[0] == pytest.approx(3.841, abs=1e-3)


def test_scan_uses_given_axes_and_rejects_empty():
    _fig, ax = plt.subplots()
    artists = plot_scan(_scan(0.2), ax=ax)
    assert artists[0].axes is ax
    with pytest.raises(ConfigError, match="at least one scan"):
        plot_scan({})


def _scan_2d(width: float, method: str) -> Scan2D:
    x, y = np.linspace(0, 2, 21), np.linspace(0, 3, 31)
    dq = ((x[:, None] - 1) / width) ** 2 + ((y[None, :] - 1.5) / (2 * width)) ** 2
    names = ("mu_a", "mu_b")
    errors = {"mu_a": width, "mu_b": 2 * width}
    cov = np.diag([width**2, 4 * width**2])
    best = FitResult(names, {"mu_a": 1.0, "mu_b": 1.5}, errors, cov, 0.0, True, 0.0, 1, 1, "ok")
    return Scan2D(names, x, y, dq, best, method)


def test_scan_2d_draws_contours_of_each_method():
    artists = plot_scan_2d(
        {"unbinned": _scan_2d(0.2, "unbinned"), "binned": _scan_2d(0.3, "binned")}
    )
    assert len(artists) == 4  # two contour sets, two best-fit markers
    ax = artists[2].axes
    assert ax.get_xlabel() == "mu_a"
    assert ax.get_ylabel() == "mu_b"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["unbinned", "binned"]
    assert list(artists[0].levels) == pytest.approx([2.2958, 5.9915], abs=1e-3)
    with pytest.raises(ConfigError, match="at least one scan"):
        plot_scan_2d({})


def test_impacts_and_pulls():
    imps = [Impact("tes", 0.1, -0.08, 0.12, -0.1), Impact("jes", 0.02, -0.03, np.nan, np.nan)]
    bars = plot_impacts(imps)
    assert len(bars) == 4
    assert len(bars[0]) == 2
    labels = [t.get_text() for t in bars[0][0].axes.get_yticklabels()]
    assert labels == ["jes", "tes"]  # largest on top
    arts = plot_pulls([Pull("tes", 0.3, 0.8), Pull("jes", -1.2, 0.5)])
    assert len(arts) == 3


def test_fisher_comparison_bars_show_sigmas():
    info_u = np.array([[100.0, 10.0], [10.0, 50.0]])
    info_b = np.array([[60.0, 10.0], [10.0, 50.0]])
    res = {
        "unbinned": FisherResult(("mu", "a"), ("mu", "a"), info_u, {"mu": 1.0, "a": 0.0}),
        "binned": FisherResult(("mu", "a"), ("mu", "a"), info_b, {"mu": 1.0, "a": 0.0}),
    }
    stat, prof = plot_fisher_comparison(res, "mu")
    assert stat[0].get_height() == pytest.approx(0.1)
    assert prof[1].get_height() == pytest.approx(res["binned"].sigma("mu"))
    assert prof[1].get_height() > prof[0].get_height()


def test_toy_plots():
    df = _toys()
    arts = plot_mu_hat_vs_mu(df)
    assert len(arts) == 3
    cov = plot_coverage(df, bins=4)
    assert cov[1].get_ydata()[0] == pytest.approx(0.6827)
    with pytest.raises(DataError, match="no valid"):
        plot_coverage(df.assign(valid=False))
    with pytest.raises(DataError, match="lack column"):
        plot_coverage(df.drop(columns="p16"))


def test_reweighting_and_calibration():
    e = np.linspace(0, 1, 6)
    arts = plot_reweighting(
        e, np.ones(5), np.full(5, 1.1), np.full(5, 1.08),
        varied_error=np.full(5, 0.05), feature="m_vis", density=True,
    )  # fmt: skip
    assert len(arts) == 3
    with pytest.raises(DataError, match="5 bins"):
        plot_reweighting(e, np.ones(4), np.ones(5), np.ones(5))
    d = ReliabilityDiagram(("s", "b"), np.array([[0.1, 0.5], [0.5, 0.9]]),
                           np.array([[0.12, 0.5], [0.5, 0.88]]), np.full((2, 2), 0.01),
                           np.ones((2, 2)), {"s": 0.01, "b": 0.01})  # fmt: skip
    assert plot_calibration(d)
