"""Residual calibration of the responses in score bins: fit, effect, files, errors."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from unbinned.exceptions import ConfigError, DataError, ModelFileError
from unbinned.ml import (
    ScoreCalibration,
    SurrogateConfig,
    TrainConfig,
    closure_test,
    fit_score_calibration,
    load,
    save,
    train_surrogate,
)
from unbinned.ml.diagnostics import CLASSIFIER_SCORE
from unbinned.ml.runtime import RunOptions
from unbinned.ml.sources import GaussianToySource


@pytest.fixture(scope="module")
def blind():
    """A surrogate whose responses are switched off (Δ ≡ 0): all of the shape is missing."""
    fast = TrainConfig(hidden=(16,), epochs=2, batch_size=1024)
    model = train_surrogate(
        GaussianToySource(3000, seed=1),
        config=SurrogateConfig(classifier=fast, response=fast, classifier_members=1),
        run=RunOptions(progress=False),
    )
    for r in model.responses.values():
        assert r is not None
        with torch.no_grad():
            for p in r.net.parameters():
                p.zero_()
    return model


def _worst_ratio(model, seed: int) -> float:
    """Largest |reweighted / varied - 1| over score bins, points and processes."""
    res = closure_test(model, GaussianToySource(8000, seed=seed), [[2.0, 0.0], [0.0, 2.0]],
                       features=[CLASSIFIER_SCORE], pairing="paired", n_bins=8)  # fmt: skip
    return max(float(np.abs(e.reweighted / e.varied - 1).max()) for e in res.entries)


def test_calibration_recovers_the_response_along_the_score(blind):
    cal = fit_score_calibration(blind, GaussianToySource(8000, seed=2), "sig", n_bins=8,
                                progress=False)  # fmt: skip
    assert isinstance(cal, ScoreCalibration)
    assert cal.n_bins == 8
    assert cal.table.shape == (2, 8, blind.n_monomials)
    assert "8 bins" in repr(cal)
    calibrated = replace(blind, calibration=cal)
    assert "score-calibrated" in repr(calibrated)
    before, after = _worst_ratio(blind, 3), _worst_ratio(calibrated, 3)
    # on an independent sample: the missing response is put back along the score
    assert before > 0.3, before
    assert after < before / 2.5, (before, after)
    ev = GaussianToySource(500, seed=4).nominal()
    raw = calibrated.precompute(ev, calibrated=False)
    assert np.all(raw.delta == 0.0)
    t = calibrated.precompute(ev)
    fractions, delta = cal.apply(raw.fractions, raw.delta)
    np.testing.assert_array_equal(t.delta, delta)
    np.testing.assert_array_equal(t.fractions, fractions)
    np.testing.assert_allclose(t.fractions.sum(axis=1), 1.0, rtol=1e-12)


def test_file_round_trip_and_malformed_entries(blind, tmp_path):
    cal = fit_score_calibration(blind, GaussianToySource(4000, seed=2), "sig", n_bins=6,
                                progress=False)  # fmt: skip
    model = replace(blind, calibration=cal)
    save(model, tmp_path / "m")
    back = load(tmp_path / "m")
    assert back.calibration is not None
    np.testing.assert_array_equal(back.calibration.table, cal.table)
    ev = GaussianToySource(300, seed=6).nominal()
    np.testing.assert_array_equal(back.precompute(ev).delta, model.precompute(ev).delta)
    bad = cal.to_dict()
    bad["table"] = bad["table"][:1]
    with pytest.raises(ModelFileError, match="calibration"):
        ScoreCalibration.from_dict(bad)
    with pytest.raises(ModelFileError, match="calibration"):
        ScoreCalibration.from_dict({"edges": [0.1]})


def test_bad_arguments(blind):
    source = GaussianToySource(500, seed=2)
    with pytest.raises(ConfigError, match="score process"):
        fit_score_calibration(blind, source, "higgs", progress=False)
    with pytest.raises(ConfigError, match="n_bins"):
        fit_score_calibration(blind, source, "sig", n_bins=1, progress=False)
    with pytest.raises(ConfigError, match="cannot determine"):
        fit_score_calibration(blind, source, "sig", points=[[1.0, 0.0]], progress=False)
    with pytest.raises(ConfigError, match="increase strictly"):
        ScoreCalibration("sig", ("sig", "bkg"), np.array([0.2, 0.1]), np.zeros((2, 3, 5)))
    with pytest.raises(ConfigError, match="expected"):
        replace(blind, calibration=ScoreCalibration("sig", ("sig", "bkg"), np.array([0.1]),
                                                    np.zeros((2, 2, 3))))  # fmt: skip
    cal = ScoreCalibration("sig", ("sig", "bkg"), np.array([0.1]), np.zeros((2, 2, 5)))
    with pytest.raises(DataError, match="delta has shape"):
        cal.apply(np.zeros((3, 2)), np.zeros((3, 2, 4)))


def test_odds_calibration_matches_the_signal_fraction_per_bin(blind):
    source = GaussianToySource(6000, seed=2)
    cal = fit_score_calibration(blind, source, "sig", n_bins=6, odds=True, progress=False)
    no_odds = fit_score_calibration(blind, source, "sig", n_bins=6, progress=False)
    assert np.all(no_odds.log_odds == 0.0)
    assert np.any(cal.log_odds != 0.0)
    ev = source.nominal()
    raw = blind.precompute(ev, calibrated=False)
    b = cal.bins(raw.fractions)
    fractions, _ = cal.apply(raw.fractions, raw.delta)
    observed = np.bincount(b, ev.weights * ev.process_mask("sig"), cal.n_bins)
    for f, tol in ((raw.fractions, None), (fractions, 1e-3)):
        predicted = np.bincount(b, ev.weights * f[:, 0], cal.n_bins)
        if tol is not None:  # exact on the sample it was fitted to
            np.testing.assert_allclose(predicted, observed, rtol=tol)
    np.testing.assert_allclose(fractions.sum(axis=1), 1.0, rtol=1e-12)
    assert "max |k - 1|" in repr(cal)
