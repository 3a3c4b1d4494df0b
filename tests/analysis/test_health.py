"""The surrogates' self-checks (analysis.health): calibrated passes, overconfident fails."""

from __future__ import annotations

import copy
import dataclasses
import json
import math
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.optimize import brentq
from test_analysis_model import SPEC

from unbinned.analysis import (
    AnalysisModel,
    HealthOptions,
    HealthReport,
    TemplateOptions,
    independent_source,
    surrogate_health,
    train_analysis,
)
from unbinned.binned.histograms import ScoredEvents
from unbinned.data.events import EventSet
from unbinned.exceptions import ConfigError, DataError
from unbinned.ml import SurrogateConfig, TrainConfig
from unbinned.ml.runtime import RunOptions
from unbinned.ml.sources import GaussianToySource
from unbinned.model import ModelSpec


class ExactModel:
    """Stands in for an AnalysisModel whose c_sig is the toy's exact fraction.

    ``sharpen`` > 1 multiplies the exact log-odds (and shifts them so that the total
    claimed signal Σ w c stays right): an overconfident classifier with the same
    ordering of events (the same binned information, more claimed).
    """

    signal, poi = "sig", "mu"
    surrogate = SimpleNamespace(nuisances=())

    def __init__(self, sharpen: float = 1.0) -> None:
        self._toy = GaussianToySource(10, seed=0)
        self._sharpen = sharpen

    def scored(self, events: Any) -> ScoredEvents:
        c = self._toy.exact_fractions(events.feature_array(("x0", "x1")))[:, 0]
        logit = np.log(c) - np.log1p(-c)
        w = events.weights

        def sharp(shift: float) -> Any:
            return 1.0 / (1.0 + np.exp(-self._sharpen * logit - shift))

        shift = brentq(lambda b: np.sum(w * (sharp(b) - c)), -20.0, 20.0)
        return ScoredEvents(sharp(shift), w)


FAST = HealthOptions(response=False)


def _check(model: Any, source: Any, options: HealthOptions = FAST) -> HealthReport:
    return surrogate_health(model, source, options=options)


def test_exact_fractions_pass_every_check():
    report = _check(ExactModel(), GaussianToySource(20_000, seed=11))
    assert report.passed, report
    pulls = (report.fraction.ratio - 1.0) / report.fraction.error
    assert np.all(np.abs(pulls) < 4.0)  # the Monte-Carlo errors are the right size
    assert 0.6 < np.std(pulls) < 1.5
    assert report.claimed_total_ratio == pytest.approx(1.0, abs=0.03)
    # the exact fraction is a sufficient statistic: only the binning loses information
    assert report.fisher_closure == pytest.approx(report.fisher_binning_ratio, abs=0.05)
    assert 1.0 <= report.fisher_binning_ratio < 1.02
    assert report.fisher_bins_used == 100
    assert report.exact_information_ratio == pytest.approx(1.0, abs=1e-12)
    assert report.exact_fraction_rms == pytest.approx(0.0, abs=1e-12)
    assert report.sigma_mu_claimed == pytest.approx(report.sigma_mu_true, rel=0.05)


def test_sharpened_fractions_fail_fraction_and_fisher_closure():
    report = _check(ExactModel(sharpen=1.6), GaussianToySource(20_000, seed=11))
    assert not report.passed
    text = "\n".join(report.warnings)
    assert "fraction closure" in text
    assert "Fisher closure" in text
    assert "too narrow" in text
    assert "exact density" in text
    assert report.fisher_closure > 1.1
    assert report.fraction.ratio[-1] < 0.95  # less true signal in the top bin than claimed
    assert report.fraction.failed.any()
    assert "FAILED" in repr(report)
    assert "WARNING: fraction closure" in repr(report)


def test_errors_do_not_cry_wolf_on_a_small_sample():
    # 300 events per process: every bin far from 1 within its Monte-Carlo error
    report = _check(ExactModel(), GaussianToySource(300, seed=3))
    assert report.passed, report
    assert np.all(report.fraction.error > 0.05)
    assert report.fisher_bins_used == 300 // 50  # at least 50 signal events per bin


def test_report_repr_and_dict():
    report = _check(ExactModel(), GaussianToySource(5_000, seed=4))
    text = repr(report)
    assert text.startswith("HealthReport(passed;")
    assert "fraction closure" in text
    assert "Fisher closure" in text
    assert "against the exact density" in text
    d = report.to_dict()
    again = json.loads(json.dumps(d, allow_nan=False))
    assert again["passed"] is True
    assert again["response_tail_chi2ndf_max"] is None  # not run: None, not NaN
    assert len(again["fraction"]["ratio"]) == 20
    assert again["options"]["bins"] == 20
    assert set(d) >= {"fraction_closure_worst", "fisher_closure", "response_tail_chi2ndf_max"}
    assert d["sample"] == ""
    named = surrogate_health(
        ExactModel(), GaussianToySource(500, seed=4), options=FAST, sample="a toy of seed 4"
    )  # type: ignore[arg-type]
    assert "\n  sample: a toy of seed 4\n" in repr(named)
    assert named.to_dict()["sample"] == "a toy of seed 4"


def test_bad_input_is_one_clear_error():
    with pytest.raises(ConfigError, match="independent events or a source"):
        surrogate_health(ExactModel())  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="tail_fraction"):
        HealthOptions(tail_fraction=1.5)
    with pytest.raises(ConfigError, match="bins"):
        HealthOptions(bins=1)
    bkg = GaussianToySource(100, seed=1).nominal("bkg")
    with pytest.raises(DataError, match="signal"):
        surrogate_health(ExactModel(), events=bkg)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="cannot simulate"):
        independent_source(object(), 10, seed=1)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def trained() -> AnalysisModel:
    cfg = SurrogateConfig(
        classifier=TrainConfig(hidden=(16, 16), epochs=3, batch_size=1024, patience=2),
        response=TrainConfig(hidden=(16, 16), epochs=3, batch_size=2048, patience=2),
        max_events_per_point=2000,
    )
    return train_analysis(
        GaussianToySource(3000, seed=1), ModelSpec.from_dict(SPEC),
        reference=GaussianToySource(3000, seed=2), surrogate_config=cfg,
        templates=TemplateOptions(bins=0), run=RunOptions(progress=False),
    )  # fmt: skip


def test_a_trained_analysis_gets_every_check(trained):
    source = independent_source(GaussianToySource(10), 4000, seed=99)
    assert isinstance(source, GaussianToySource)
    report = surrogate_health(trained, source, options=HealthOptions(max_events=2000))
    # (c) ran at the held-out on-axis points of both nuisances, for both processes
    assert len(report.response_tail) >= 4
    assert {e["process"] for e in report.response_tail} == {"sig", "bkg"}
    assert math.isfinite(report.response_tail_chi2ndf_max)
    assert math.isfinite(report.exact_information_ratio)
    assert "response closure in the tail" in repr(report)
    # (e) at the same points, in units of the sample's stat-only σ, with paired errors
    assert len(report.response_mu_bias) == len(report.response_tail) // 2
    row = report.response_mu_bias[0]
    assert set(row["processes"]) == {"sig", "bkg"}
    assert 0 < row["error_sigma"] < 0.2
    assert math.isfinite(report.response_mu_bias_max)
    assert "response bias of μ" in repr(report)
    json.dumps(report.to_dict(), allow_nan=False)


def test_a_wrong_background_response_is_a_bias_warning_naming_it(trained):
    bad = copy.deepcopy(trained)
    net = bad.surrogate.responses["bkg"].net
    with torch.no_grad():  # the background's learned response three times too strong
        for p in list(net.parameters())[-2:]:
            p.mul_(3.0)
    source = independent_source(GaussianToySource(10), 4000, seed=99)
    opts = HealthOptions(max_events=2000)
    before = surrogate_health(trained, source, options=opts).response_mu_bias_max
    report = surrogate_health(bad, source, options=opts)
    assert report.response_mu_bias_max > max(2.0, 1.5 * before)
    found = [w for w in report.warnings if w.startswith("response bias of mu")]
    assert found
    assert "mostly bkg" in found[0]
    assert "max_events_per_point" in found[0]


def test_the_mu_bias_does_not_depend_on_the_part_of_the_sample_used(trained):
    # (e) normalises the model to the sample's own nominal yield: half of the generated
    # events (max_events) measure the same shift, within its errors (the first half of
    # the sample was once compared with the model's whole yield: a spurious shift in
    # proportion to the yield response, -1.5 sigma at soft_met on the demo)
    source = independent_source(GaussianToySource(10), 8000, seed=98)
    whole = surrogate_health(trained, source, options=HealthOptions(max_events=None))
    half = surrogate_health(trained, source, options=HealthOptions(max_events=4000))
    for a, b in zip(whole.response_mu_bias, half.response_mu_bias, strict=True):
        assert a["nu"] == b["nu"]
        # the same shift of mu-hat; the half is a subset, so its error bounds the difference
        assert abs(a["dmu"] - b["dmu"]) < 3 * b["error_sigma"] * b["sigma_stat"] + 0.02
        # and in units of the same sigma: the analysis's own, not the sample's (half the
        # sample has sqrt(2) times its sigma)
        assert b["sigma_stat"] == pytest.approx(a["sigma_stat"], rel=0.1)
        assert b["sigma_stat_sample"] == pytest.approx(np.sqrt(2) * a["sigma_stat_sample"], rel=0.1)


def test_the_source_must_vary_the_analysis_nuisances(trained):
    class Swapped(GaussianToySource):
        @property
        def nuisances(self) -> Any:
            return tuple(reversed(super().nuisances))

    with pytest.raises(ConfigError, match=r"\['shift', 'scale'\] are not the analysis's"):
        surrogate_health(trained, Swapped(500, seed=3))
    # without the response closure the nuisances do not matter
    assert surrogate_health(trained, Swapped(500, seed=3), options=FAST).response_tail == ()


def test_the_analysis_records_its_health_and_measurements_carry_the_warnings(trained, tmp_path):
    meta = {k: v for k, v in trained.metadata.items() if k != "health"}
    trained = dataclasses.replace(trained, metadata=meta)  # as if never checked
    assert trained.health is None
    assert trained.warnings == ()
    assert trained.notes == ()
    failed = _check(ExactModel(sharpen=1.6), GaussianToySource(5_000, seed=11))
    checked = trained.with_health(failed)
    assert checked.warnings == failed.warnings
    again = AnalysisModel.load(checked.save(tmp_path / "model"))
    assert again.health == json.loads(json.dumps(failed.to_dict()))
    m = again.measure(GaussianToySource(1000, seed=5).nominal(), binned=False)
    assert m.warnings == failed.warnings
    assert "WARNING: fraction closure" in repr(m)
    assert m.to_dict()["warnings"] == list(failed.warnings)
    assert again.measure_asimov(binned=False).warnings == failed.warnings
    assert trained.measure(GaussianToySource(1000, seed=5).nominal(), binned=False).warnings == ()


def test_independent_source_draws_the_same_kind_again():
    from unbinned.ml import HTauTauSource, OracleSource
    from unbinned.sim.htautau import simulate
    from unbinned.sim.oracle import ResonanceModel

    oracle = OracleSource(ResonanceModel(), 200, seed=1)
    again = independent_source(oracle, 300, seed=2)
    assert isinstance(again, OracleSource)
    assert again.nuisances == oracle.nuisances
    assert len(again.generated_ids(again.processes[0])) == 300
    ht = HTauTauSource(simulate(2000, seed=1, processes=("htautau", "ztautau")))
    fresh = independent_source(ht, 1000, seed=7)
    assert isinstance(fresh, HTauTauSource)
    assert fresh.processes == ht.processes
    assert fresh.nuisances == ht.nuisances
    assert fresh.nominal().feature_names == ht.nominal().feature_names


# ---------------------------------------------------------------------------- in the entry points
TINY = SurrogateConfig(
    classifier=TrainConfig(hidden=(8,), epochs=2, batch_size=1024, patience=1),
    response=TrainConfig(hidden=(8,), epochs=2, batch_size=2048, patience=1),
    max_events_per_point=500,
)


class Unsimulable:
    """A Gaussian toy source that cannot simulate new events (as the user's files)."""

    def __init__(self, n: int, seed: int) -> None:
        self._toy = GaussianToySource(n, seed=seed)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._toy, name)


def _train(source: Any, **kwargs: Any) -> AnalysisModel:
    return train_analysis(
        source, ModelSpec.from_dict(SPEC), surrogate_config=TINY,
        templates=TemplateOptions(bins=0), run=RunOptions(progress=False), **kwargs,
    )  # fmt: skip


def test_train_analysis_checks_on_fresh_simulation_and_warns_on_every_measurement(trained):
    health = trained.health
    assert health is not None
    assert "skipped" not in health
    assert health["sample"].startswith("independent simulation (GaussianToySource, 3000")
    assert health["options"]["enabled"] is True
    # the fixture's 3000-event training is too short: its fractions fail the closure
    assert trained.warnings
    assert trained.warnings == tuple(health["warnings"])
    assert f"health: {len(trained.warnings)} failed check(s)" in repr(trained)
    data = GaussianToySource(1000, seed=5).nominal()
    m = trained.measure(data, binned=False)
    assert m.warnings == trained.warnings
    assert m.notes == ()
    assert trained.measure_asimov(binned=False).warnings == trained.warnings


def test_health_switched_off_is_a_note_not_silence():
    model = _train(GaussianToySource(600, seed=1), health=HealthOptions(enabled=False))
    assert model.warnings == ()
    assert "health check not run" in repr(model)
    assert model.notes == ("surrogate health check not run: switched off "
                           "(HealthOptions(enabled=False))",)  # fmt: skip
    m = model.measure(GaussianToySource(300, seed=5).nominal(), binned=False)
    assert m.notes == model.notes
    assert "NOTE: surrogate health check not run: switched off" in repr(m)
    assert m.to_dict()["notes"] == list(model.notes)


def test_an_independent_reference_is_checked_on_itself_else_the_reason_is_recorded():
    source = Unsimulable(600, seed=1)
    with_ref = _train(source, reference=Unsimulable(600, seed=2),
                      health=HealthOptions(response=False))  # fmt: skip
    assert with_ref.health is not None
    assert with_ref.health["sample"] == "the reference sample (independent of the training)"
    assert with_ref.health["n_events"] == len(Unsimulable(600, seed=2).nominal())
    alone = _train(source, health=HealthOptions(response=False))  # reference = the training
    assert alone.health is not None
    assert "no independent sample" in alone.health["skipped"]
    assert "health_source=" in alone.notes[0]
    given = _train(source, health_source=GaussianToySource(700, seed=3),
                   health=HealthOptions(response=False, events_per_process=50))  # fmt: skip
    assert given.health is not None
    assert given.health["n_events"] == len(GaussianToySource(700, seed=3).nominal())
    with pytest.raises(ConfigError, match="cannot simulate"):
        _train(source, health=HealthOptions(sample="simulation"))


def test_the_fresh_simulation_size_and_seed_come_from_the_options():
    opts = HealthOptions(events_per_process=400, seed=7, response=False)
    model = _train(GaussianToySource(600, seed=1), health=opts)
    assert model.health is not None
    assert model.health["n_events"] == len(GaussianToySource(400, seed=7).nominal())
    assert model.health["sample"].endswith("400 generated events per process, seed 7)")
    with pytest.raises(ConfigError, match="events_per_process"):
        HealthOptions(events_per_process=3)
    with pytest.raises(ConfigError, match="sample"):
        HealthOptions(sample="elsewhere")  # type: ignore[arg-type]


def test_a_too_small_training_set_is_one_clear_error_a_small_one_a_warning():
    with pytest.raises(DataError, match=r"training sample has too few selected events of "
                       r"\['sig', 'bkg'\] \(sig: \d+, bkg: \d+\); every process needs at "
                       r"least 50"):  # fmt: skip
        _train(GaussianToySource(30, seed=1))
    with pytest.raises(DataError, match="reference sample has too few"):
        _train(GaussianToySource(300, seed=1), reference=GaussianToySource(40, seed=2))
    # 300 events per process train, and the short training shows in the health check
    model = _train(GaussianToySource(300, seed=1))
    assert model.health is not None
    assert "skipped" not in model.health
    assert model.warnings  # two epochs of 300 events: the fractions do not close
    m = model.measure(GaussianToySource(1000, seed=5).nominal(), binned=False)
    assert m.warnings == model.warnings


# ---------------------------------------------------------------------- fraction-closure errors
class ColumnModel:
    """Stands in for an AnalysisModel whose c_sig is the events' feature ``c``."""

    signal, poi = "sig", "mu"
    surrogate = SimpleNamespace(nuisances=())

    def scored(self, events: Any) -> ScoredEvents:
        return ScoredEvents(events.feature_array(("c",))[:, 0], events.weights)


def _calibrated(n: int, w_sig: float, w_bkg: float, rng: Any, c_of: Any) -> EventSet:
    """n raw events whose *weighted* signal fraction at c is c (class weights w_sig, w_bkg)."""
    c = c_of(rng.uniform(size=n))
    q = (c / w_sig) / (c / w_sig + (1.0 - c) / w_bkg)  # the raw signal probability at c
    y = rng.uniform(size=n) < q
    return EventSet.from_numpy(
        c[:, None], np.where(y, w_sig, w_bkg), np.where(y, "sig", "bkg"),
        feature_names=("c",), process_names=("sig", "bkg"),
    )  # fmt: skip


def test_a_bin_of_one_class_has_the_error_of_the_claim_not_zero():
    # the files example's bin 19: 39 signal events (weight 0.025) at c = 0.25, no
    # background (weight 0.5625) although the claim puts 3 times their weight beside them
    n, w_s, w_b, c0 = 39, 0.025, 0.5625, 0.25
    c = np.concatenate([np.full(n, c0), np.linspace(0.01, 0.08, 400), np.linspace(0.01, 0.09, n)])
    y = np.concatenate([np.ones(n, bool), np.zeros(400, bool), np.ones(n, bool)])
    events = EventSet.from_numpy(
        c[:, None], np.where(y, w_s, w_b), np.where(y, "sig", "bkg"),
        feature_names=("c",), process_names=("sig", "bkg"),
    )  # fmt: skip
    f = surrogate_health(ColumnModel(), events=events, options=HealthOptions(bins=2)).fraction  # type: ignore[arg-type]
    top = len(f.ratio) - 1
    inside = c >= f.edges[top]
    assert y[inside].all()  # one class only
    assert inside.sum() >= n
    # V = Σ w_s (1 − c)(ω_sig (1 − c) + ω_bkg c): the background the claim expects beside them
    ci = c[inside]
    v = np.sum(w_s * (1 - ci) * (w_s * (1 - ci) + w_b * ci))
    assert f.error[top] == pytest.approx(math.sqrt(v) / f.claimed[top], rel=1e-9)
    assert f.error[top] > 0.5  # not the ±0.000 of the spread of all-signal labels
    assert not f.failed[top]  # 4 times the claim, but within 3σ of it


def test_calibrated_fractions_with_class_weights_and_few_events_do_not_cry_wolf():
    # weights as in the files example (background 22 times the signal's), few events
    # per bin, a steep fraction: the pulls are unit-sized, the 3σ failures rare
    rng = np.random.default_rng(5)
    pulls, failed = [], 0
    for _ in range(40):
        events = _calibrated(600, 0.025, 0.5625, rng, lambda u: 0.02 + 0.9 * u**3)
        f = surrogate_health(ColumnModel(), events=events, options=FAST).fraction  # type: ignore[arg-type]
        assert np.all(f.error > 0)
        pulls += list((f.ratio - 1.0) / f.error)
        failed += int(f.failed.sum())
    assert 0.7 < np.std(pulls) < 1.3
    assert failed <= 5  # of 800 bins: 0.27 % of them fail at 3σ, about 2


def test_an_overconfident_one_class_bin_still_fails():
    # 400 signal events at c = 0.3 with no background: not a fluctuation
    rng = np.random.default_rng(2)
    base = _calibrated(4000, 1.0, 1.0, rng, lambda u: 0.02 + 0.2 * u)
    c = np.concatenate([base.feature_array(("c",))[:, 0], np.full(400, 0.3)])
    y = np.concatenate([np.asarray(base.process_mask("sig")), np.ones(400, bool)])
    events = EventSet.from_numpy(c[:, None], None, np.where(y, "sig", "bkg"),
                                 feature_names=("c",), process_names=("sig", "bkg"))  # fmt: skip
    report = surrogate_health(ColumnModel(), events=events, options=FAST)  # type: ignore[arg-type]
    assert report.fraction.failed[-1]
    assert "fraction closure" in report.warnings[0]


def test_a_constant_classifier_is_tied_into_one_bin_that_passes():
    rng = np.random.default_rng(3)
    events = _calibrated(3000, 1.0, 1.0, rng, lambda u: np.full_like(u, 0.3))
    report = surrogate_health(ColumnModel(), events=events, options=FAST)  # type: ignore[arg-type]
    assert len(report.fraction.ratio) == 1  # the tied scores collapse the edges
    assert report.fraction.events.sum() == len(events)
    assert report.passed, report
    assert report.fraction.error[0] > 0


# ---------------------------------------------------------------------- which independent events
class Recorder:
    """Stands in for an AnalysisModel: records what check_analysis decided."""

    signal, signals = "htautau", ("htautau",)

    def with_health_skipped(self, reason: str, options: Any) -> Any:
        return ("skipped", reason)

    def with_health(self, report: Any) -> Any:
        return ("checked", report)


def test_real_data_in_an_htautau_source_is_not_simulated_again(monkeypatch, tmp_path):
    from unbinned.analysis import check_analysis
    from unbinned.analysis import health as health_module
    from unbinned.analysis.health import can_simulate
    from unbinned.ml import HTauTauSource
    from unbinned.sim.htautau import SIMULATOR_ATTR, SimulationConfig, simulate

    frame = simulate(600, seed=1, processes=("htautau", "ztautau"))
    frame.to_parquet(tmp_path / "sim.parquet")  # the workflow's files keep the record
    again = pd.read_parquet(tmp_path / "sim.parquet")
    assert again.attrs[SIMULATOR_ATTR]["name"] == "unbinned.sim.htautau"
    assert can_simulate(HTauTauSource(again))
    real = frame.copy()
    real.attrs.clear()  # as the challenge's files or the user's own
    source = HTauTauSource(real)
    assert source.simulation is None
    assert not can_simulate(source)
    with pytest.raises(ConfigError, match="not the built-in simulator's"):
        independent_source(source, 100, seed=2)
    other = simulate(600, seed=1, processes=("htautau", "ztautau"),
                     config=dataclasses.replace(SimulationConfig(), z_mass=92.0))  # fmt: skip
    assert not can_simulate(HTauTauSource(other))

    seen: list[Any] = []

    def checked(model: Any, src: Any, **kwargs: Any) -> str:
        seen.append((src, kwargs["sample"]))
        return "report"

    monkeypatch.setattr(health_module, "surrogate_health", checked)
    model: Any = Recorder()
    kind, reason = check_analysis(model, source)
    assert kind == "skipped"
    assert "not the built-in simulator's" in reason
    assert check_analysis(model, source, reference_independent=True) == ("checked", "report")
    assert seen[-1] == (source, "the reference sample (independent of the training)")
    with pytest.raises(ConfigError, match="sample='simulation'.*not the built-in simulator's"):
        check_analysis(model, source, options=HealthOptions(sample="simulation"))
    # simulator-made: a fresh simulation with a new seed
    check_analysis(model, HTauTauSource(frame), options=HealthOptions(events_per_process=300))
    fresh, sample = seen[-1]
    assert isinstance(fresh, HTauTauSource)
    assert fresh.simulation is not None
    assert sample.startswith("independent simulation (HTauTauSource, 300 generated events")
