"""The challenge's model interface: fit on a training set, predict on pseudo-experiments."""

from __future__ import annotations

import numpy as np
import pytest

from unbinned.challenge import ChallengeSettings, Model, challenge_systematics
from unbinned.challenge.model import check_training_statistics
from unbinned.exceptions import ConfigError, DataError, SchemaError
from unbinned.ml import HTauTauSource, SurrogateConfig, TrainConfig
from unbinned.sim.htautau import simulate
from unbinned.sim.pseudo import pseudo_experiment

SMALL = SurrogateConfig(
    classifier=TrainConfig(hidden=(16, 16), epochs=4, batch_size=2048, patience=2),
    response=TrainConfig(hidden=(16, 16), epochs=5, batch_size=2048, patience=3),
    max_events_per_point=4000,
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    calls = []

    def systematics(frame, **kwargs):
        calls.append(kwargs)
        return challenge_systematics(frame, **kwargs)

    train = simulate(4000, seed=11, progress=False)
    train["weights"] *= 0.02  # the training weights are expected events of the test luminosity
    # an interface test: far fewer simulated events than the 0.2 fb⁻¹ data hold, so
    # the check of the training statistics is lowered (the statistics are not tested)
    settings = ChallengeSettings(
        surrogate=SMALL,
        progress=False,
        model_dir=tmp_path_factory.mktemp("m") / "analysis",
        min_simulation_ratio=0.05,
    )
    model = Model(get_train_set=lambda: train, systematics=systematics, settings=settings)
    model.fit()
    return model, calls


def test_fit_uses_the_given_systematics_and_predict_follows_the_interface(trained):
    model, calls = trained
    assert calls, "the caller's systematics function was not used"
    assert {"tes", "jes", "soft_met", "seed"} <= set(calls[0])
    pool = simulate(4000, seed=12, progress=False)
    pool["weights"] *= 0.02
    pe = pseudo_experiment(pool, mu=1.0, draw_nuisances=True, seed=3)
    features = pe.data.drop(columns=["weights", "labels", "detailed_labels"], errors="ignore")
    out = model.predict({"data": features, "weights": np.ones(len(features))})
    assert set(out) >= {"mu_hat", "delta_mu_hat", "p16", "p84"}
    assert out["valid"]
    assert out["p16"] <= out["mu_hat"] <= out["p84"]
    assert out["delta_mu_hat"] == pytest.approx(0.5 * (out["p84"] - out["p16"]))
    # the health check ran on the integration half; its failures travel with every result
    health = model.analysis.health
    assert health is not None
    assert health["sample"].startswith("the reference sample")
    assert out["warnings"] == list(model.warnings) == health["warnings"]


def test_saved_model_is_reused_and_bad_input_is_named(trained):
    model, _ = trained
    again = Model(settings=ChallengeSettings(model_dir=model.settings.model_dir, progress=False))
    again.fit()  # loads, no training set needed
    assert again.analysis is not None
    with pytest.raises(ConfigError, match="fit"):
        Model().predict({"data": None})
    pool = simulate(500, seed=13, progress=False)
    with pytest.raises(SchemaError, match="PRI_met"):
        again.predict({"data": pool.drop(columns=["PRI_met"]), "weights": None})
    with pytest.raises(TypeError, match="test_set"):
        again.predict([1, 2, 3])  # type: ignore[arg-type]


def test_toy_task_simulates_afresh_or_draws_from_a_sample(trained, tmp_path):
    from unbinned.analysis import htautau_toy_task
    from unbinned.sim.htautau import raw_rates

    model, _ = trained
    analysis = str(model.settings.model_dir)
    rates = raw_rates(0.2, events_per_process=20_000, seed=3)  # the analysis's 0.2 fb⁻¹
    row = htautau_toy_task(21, analysis=analysis, rates=rates, mu=1.5, binned=False)
    assert row["mu_true"] == 1.5
    assert row["valid"]
    assert row["p16"] <= row["mu_hat"] <= row["p84"]
    # ≈ 0.02 × 1.05 M events; the same seed draws the same truth as the sample method
    assert 15_000 < row["n_events"] < 27_000
    pool = simulate(3000, seed=13, progress=False)
    pool["weights"] *= 0.02
    pool.to_parquet(tmp_path / "pool.parquet")
    drawn = htautau_toy_task(21, analysis=analysis, test_sample=tmp_path / "pool.parquet",
                             mu=1.5, binned=False)  # fmt: skip
    assert drawn["true_tes"] == row["true_tes"]
    assert drawn["true_jes"] == row["true_jes"]
    with pytest.raises(ConfigError, match="exactly one"):
        htautau_toy_task(21, analysis=analysis)
    # through the study runner, which accepts flat rows only
    import functools

    from unbinned.infer import run_toys

    task = functools.partial(htautau_toy_task, analysis=analysis, rates=rates, mu=1.5)
    study = run_toys(task, [22], store=None, progress=False)
    assert bool(study.rows["valid"].iloc[0])


def test_soft_met_templates_reach_its_bound_and_powered_ones_are_opt_in(trained):
    from unbinned.ml import HTauTauSource

    model, _ = trained
    analysis = model.analysis
    reference = HTauTauSource(
        simulate(3000, seed=12, progress=False), seed=3, nuisances=analysis.surrogate.nuisances
    )
    linear = analysis.with_templates(reference, bins=4)
    assert linear.templates.parametrisation == {}  # linear in soft_met by default
    # the log-normal soft_met reaches to its upper bound by a secant up template
    assert linear.templates.secants == {"soft_met": 5.0}
    plain = analysis.with_templates(reference, bins=4, template_reach=None)
    assert plain.templates.secants == {}
    assert not np.allclose(
        linear.templates.regions[0].up["soft_met"], plain.templates.regions[0].up["soft_met"]
    )
    powered = analysis.with_templates(reference, bins=4, powered_templates=True)
    assert {k: p for k, (_, p) in powered.templates.parametrisation.items()} == {"soft_met": 2}


@pytest.mark.data
def test_the_public_1000_event_sample_is_refused_with_what_it_needs(real_sample_path):
    import pandas as pd

    frame = pd.read_parquet(real_sample_path)
    model = Model(get_train_set=lambda: frame, settings=ChallengeSettings(progress=False))
    # 4 diboson and 26 ttbar events: one clear error naming both, before any training
    with pytest.raises(DataError, match=r"too small.*ttbar: \d+ selected.*diboson: \d+ sel"):
        model.fit()
    assert model.analysis is None


def test_a_small_training_set_for_large_data_is_refused():
    train = simulate(400, seed=5, progress=False)  # weights: 10 fb⁻¹, ≈ 1.05 M data events
    model = Model(get_train_set=lambda: train, settings=ChallengeSettings(progress=False))
    expected = r"ztautau: \d+ selected .*\(expected in the data: \d{6,7}\)"  # ≈ 10⁶
    with pytest.raises(DataError, match=expected):
        model.fit()
    # the same events for a data set 10⁴ times smaller (≈ 100 events) pass the check
    small = train.assign(weights=train.weights * 1e-4)
    source = HTauTauSource(small.iloc[0::2], seed=0)
    reference = HTauTauSource(small.iloc[1::2], seed=1)
    counts = check_training_statistics(source, reference)
    assert counts["ztautau"]["n_train"] >= counts["ztautau"]["needed"] == 100
    with pytest.raises(ConfigError, match="min_simulation_ratio"):
        ChallengeSettings(min_simulation_ratio=-1.0)
