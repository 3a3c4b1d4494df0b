"""Pseudo-experiments simulated afresh: expected raw counts, exact Poisson data, seeds."""

from __future__ import annotations

import numpy as np
import pytest

from unbinned.data.schema import EXPECTED_YIELDS_10FB, PROCESSES
from unbinned.exceptions import ConfigError
from unbinned.sim.htautau import raw_rates, simulate, simulate_pseudo_experiment
from unbinned.sim.pseudo import pseudo_experiment
from unbinned.sim.systematics import Nuisances


@pytest.fixture(scope="module")
def rates() -> dict[str, float]:
    return raw_rates(0.02, events_per_process=20_000, seed=5)


def test_raw_rates_are_the_simulators_own_normalisation():
    n = 5000
    rates = raw_rates(10.0, events_per_process=n, seed=9)
    frame = simulate(n, seed=9)
    for p in PROCESSES:
        w = frame.loc[frame["detailed_labels"] == p, "weights"].iloc[0]
        # simulate normalises w_p = Y_p / n_nominal: the same sample gives Λ_p = w_p n
        assert rates[p] == pytest.approx(w * n, rel=1e-12)
        assert rates[p] > EXPECTED_YIELDS_10FB[p]  # some raw events fail the selection


def test_same_seed_same_data_and_the_truth_of_the_weighted_draw(rates):
    a = simulate_pseudo_experiment(rates, mu=1.0, draw_nuisances=True, seed=11)
    b = simulate_pseudo_experiment(rates, mu=1.0, draw_nuisances=True, seed=11)
    c = simulate_pseudo_experiment(rates, mu=1.0, draw_nuisances=True, seed=12)
    assert a.data.equals(b.data)
    assert not a.data["PRI_had_pt"].equals(c.data["PRI_had_pt"])
    assert (a.data["weights"] == 1.0).all()
    assert a.mean_multiplicity == 1.0
    assert (a.data["PRI_had_pt"] >= 26.0 * a.nuisances.tes * 0.999).all()
    # the same seed draws the same true nuisances as the weighted-sample method
    small = simulate(300, seed=1)
    assert pseudo_experiment(small, mu=1.0, draw_nuisances=True, seed=11).nuisances == a.nuisances


def test_counts_are_poisson_with_the_expected_mean(rates):
    nominal = Nuisances()
    counts = {p: [] for p in PROCESSES}
    for seed in range(12):
        pe = simulate_pseudo_experiment(rates, mu=2.0, nuisances=nominal, seed=seed)
        labels = pe.data["detailed_labels"]
        for p in PROCESSES:
            counts[p].append(int((labels == p).sum()))
    for p in PROCESSES:
        # selected yields at 0.02 × 10 fb⁻¹ (the signal times μ = 2), within 4σ of the mean of 12
        expected = EXPECTED_YIELDS_10FB[p] * 0.002 * (2.0 if p == "htautau" else 1.0)
        assert abs(np.mean(counts[p]) - expected) < 4 * np.sqrt(expected / 12) + 1e-9, p


def test_rate_factors_and_bad_input(rates):
    pe = simulate_pseudo_experiment(rates, mu=0.0, seed=3)
    assert "htautau" not in set(pe.data["detailed_labels"])
    assert pe.expected["htautau"] == 0.0
    scaled = simulate_pseudo_experiment(
        rates, mu=1.0, nuisances=Nuisances(diboson_scale=2.0, bkg_scale=1.01), seed=3
    )
    assert scaled.expected["diboson"] == pytest.approx(rates["diboson"] * 2.0 * 1.01)
    with pytest.raises(ConfigError, match="non-negative int"):
        simulate_pseudo_experiment(rates, mu=1.0, seed=-1)
    with pytest.raises(ConfigError, match="unknown process"):
        simulate_pseudo_experiment({"zjets": 10.0}, mu=1.0, seed=1)
    with pytest.raises(ConfigError, match="finite"):
        simulate_pseudo_experiment({"ztautau": float("nan")}, mu=1.0, seed=1)
    with pytest.raises(ConfigError, match="either"):
        simulate_pseudo_experiment(
            rates, mu=1.0, nuisances=Nuisances(), draw_nuisances=True, seed=1
        )
    with pytest.raises(ConfigError, match="luminosity"):
        raw_rates(-1.0)
