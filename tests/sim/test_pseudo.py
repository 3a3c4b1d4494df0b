"""Pseudo-experiments: Poisson sampling of a weighted sample, as the challenge does."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from unbinned.data.schema import MISSING, PROCESSES
from unbinned.exceptions import ConfigError, DataError, SchemaError
from unbinned.sim.derived import compute_derived
from unbinned.sim.pseudo import PseudoExperiment, expected_yields, pseudo_experiment
from unbinned.sim.systematics import CHALLENGE_PRIORS, NUISANCE_NAMES, Nuisances


def weighted_sample(n: int = 4000, seed: int = 0, total: float = 400.0) -> pd.DataFrame:
    """Challenge-format toy events whose weights sum to about ``total`` before selection."""
    rng = np.random.default_rng(seed)
    n_jets = rng.integers(0, 3, n)
    j1 = 22 + rng.exponential(25, n)
    j2 = 22 + (j1 - 22) * rng.uniform(size=n)
    has1, has2 = n_jets >= 1, n_jets >= 2
    frame = pd.DataFrame(
        {
            "PRI_lep_pt": 20 + rng.exponential(15, n),
            "PRI_lep_eta": rng.uniform(-2.5, 2.5, n),
            "PRI_lep_phi": rng.uniform(-np.pi, np.pi, n),
            "PRI_had_pt": 22 + rng.exponential(15, n),
            "PRI_had_eta": rng.uniform(-2.5, 2.5, n),
            "PRI_had_phi": rng.uniform(-np.pi, np.pi, n),
            "PRI_jet_leading_pt": np.where(has1, j1, MISSING),
            "PRI_jet_leading_eta": np.where(has1, rng.uniform(-4, 4, n), MISSING),
            "PRI_jet_leading_phi": np.where(has1, rng.uniform(-3, 3, n), MISSING),
            "PRI_jet_subleading_pt": np.where(has2, j2, MISSING),
            "PRI_jet_subleading_eta": np.where(has2, rng.uniform(-4, 4, n), MISSING),
            "PRI_jet_subleading_phi": np.where(has2, rng.uniform(-3, 3, n), MISSING),
            "PRI_n_jets": n_jets.astype(float),
            "PRI_jet_all_pt": np.where(has1, j1, 0.0) + np.where(has2, j2, 0.0),
            "PRI_met": rng.exponential(20, n),
            "PRI_met_phi": rng.uniform(-np.pi, np.pi, n),
        }
    )
    process = rng.choice(np.array(PROCESSES), size=n, p=[0.25, 0.45, 0.2, 0.1])
    weights = rng.uniform(0.5, 1.5, n)
    frame["weights"] = weights * total / weights.sum()
    frame["detailed_labels"] = process
    frame["labels"] = (process == "htautau").astype(float)
    for name, values in compute_derived(frame).items():
        frame[name] = values
    return frame


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return weighted_sample()


def test_expected_yields(sample):
    nominal = expected_yields(sample)
    assert list(nominal)[:4] == list(PROCESSES)
    assert nominal["signal"] == pytest.approx(nominal["htautau"])
    background = nominal["ztautau"] + nominal["ttbar"] + nominal["diboson"]
    assert nominal["background"] == pytest.approx(background)
    assert nominal["total"] == pytest.approx(nominal["signal"] + nominal["background"])
    doubled = expected_yields(sample, mu=2.0, nuisances=Nuisances(ttbar_scale=1.1))
    assert doubled["signal"] == pytest.approx(2 * nominal["signal"], rel=1e-12)
    assert doubled["ttbar"] == pytest.approx(1.1 * nominal["ttbar"], rel=1e-12)
    assert doubled["ztautau"] == pytest.approx(nominal["ztautau"], rel=1e-12)
    # the selection is redone: a lower tau energy scale loses events
    assert expected_yields(sample, nuisances=Nuisances(tes=0.95))["total"] < nominal["total"]


@pytest.mark.parametrize(
    ("mu", "nuisances"),
    [(1.0, Nuisances()), (2.5, Nuisances(tes=1.03, jes=0.98, soft_met=2.0, ttbar_scale=1.2))],
)
def test_mean_count_matches_mu_s_plus_b(sample, mu, nuisances):
    expected = expected_yields(sample, mu, nuisances)
    n_toys = 300
    counts, signal = np.empty(n_toys), np.empty(n_toys)
    for seed in range(n_toys):
        pe = pseudo_experiment(sample, mu=mu, nuisances=nuisances, seed=seed)
        counts[seed] = pe.n_events
        signal[seed] = int((pe.data.detailed_labels == "htautau").sum())
        assert pe.expected == pytest.approx(expected)
    total = expected["total"]  # = mu * S + B
    # Poisson: mean within 4 standard errors, variance about the mean
    assert abs(counts.mean() - total) < 4 * np.sqrt(total / n_toys)
    assert abs(signal.mean() - expected["signal"]) < 4 * np.sqrt(expected["signal"] / n_toys)
    assert counts.var(ddof=1) == pytest.approx(total, rel=0.25)


def test_reproducible_from_the_seed(sample):
    nu = Nuisances(tes=1.01, soft_met=3.0)
    a = pseudo_experiment(sample, mu=1.5, nuisances=nu, seed=42)
    b = pseudo_experiment(sample, mu=1.5, nuisances=nu, seed=42)
    c = pseudo_experiment(sample, mu=1.5, nuisances=nu, seed=43)
    pd.testing.assert_frame_equal(a.data, b.data, check_exact=True)
    assert not a.data.equals(c.data)
    assert (a.seed, a.mu, a.nuisances) == (42, 1.5, nu)


def test_output_is_unweighted_selected_and_shuffled(sample):
    pe = pseudo_experiment(sample, mu=1.0, seed=7)
    assert isinstance(pe, PseudoExperiment)
    assert list(pe.data.columns) == list(sample.columns)
    assert (pe.data.weights == 1.0).all()
    assert (pe.data.PRI_had_pt >= 26).all()
    assert pe.data.index.equals(pd.RangeIndex(pe.n_events))
    # shuffled: the processes are not in blocks
    labels = pe.data.detailed_labels.to_numpy()
    assert np.count_nonzero(labels[1:] != labels[:-1]) > pe.n_events / 3
    # small weights: few repeats, and the repr reports it
    assert 1.0 <= pe.mean_multiplicity < 1.5
    assert pe.max_multiplicity >= 1
    text = repr(pe)
    assert "seed=7" in text
    assert "mean multiplicity" in text
    assert f"{pe.n_events} events" in text


def test_large_weights_repeat_events():
    heavy = weighted_sample(n=200, seed=1, total=4000.0)
    pe = pseudo_experiment(heavy, mu=1.0, seed=0)
    assert pe.mean_multiplicity > 10
    assert pe.n_distinct <= len(heavy)


def test_draw_nuisances_from_priors(sample):
    drawn = [pseudo_experiment(sample, mu=1.0, draw_nuisances=True, seed=s) for s in range(40)]
    for name in NUISANCE_NAMES:
        values = np.array([getattr(p.nuisances, name) for p in drawn])
        prior = CHALLENGE_PRIORS[name]
        assert values.min() >= prior.low
        assert values.max() <= prior.high
        assert np.unique(values).size > 30
    again = pseudo_experiment(sample, mu=1.0, draw_nuisances=True, seed=3)
    assert again.nuisances == drawn[3].nuisances
    pd.testing.assert_frame_equal(again.data, drawn[3].data)


def test_input_not_modified(sample):
    before = sample.copy()
    pseudo_experiment(sample, mu=2.0, nuisances=Nuisances(tes=1.05, soft_met=1.0), seed=1)
    pd.testing.assert_frame_equal(sample, before)


def test_errors(sample):
    with pytest.raises(ConfigError, match="mu=-1"):
        pseudo_experiment(sample, mu=-1.0, seed=0)
    with pytest.raises(ConfigError, match="either nuisances= or draw_nuisances"):
        pseudo_experiment(sample, mu=1.0, nuisances=Nuisances(), draw_nuisances=True, seed=0)
    with pytest.raises(TypeError, match="seed"):
        pseudo_experiment(sample, mu=1.0, seed=1.5)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="seed=-3"):
        pseudo_experiment(sample, mu=1.0, seed=-3)
    negative = sample.copy()
    negative.loc[negative.PRI_had_pt > 30, "weights"] *= -1
    with pytest.raises(DataError, match="negative weights"):
        pseudo_experiment(negative, mu=1.0, seed=0)
    with pytest.raises(SchemaError, match="'weights'"):
        pseudo_experiment(sample.drop(columns="weights"), mu=1.0, seed=0)
    with pytest.raises(TypeError, match="Nuisances"):
        pseudo_experiment(sample, mu=1.0, nuisances={"tes": 1.0}, seed=0)  # type: ignore[arg-type]
