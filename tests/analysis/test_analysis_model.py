"""The trained-analysis object: training, measuring, saving, luminosity scaling, bad files."""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest

from unbinned.analysis import (
    AnalysisModel,
    CalibrationOptions,
    IntegrationOptions,
    Measurement,
    TemplateOptions,
    build_analysis,
    challenge_spec,
    train_analysis,
)
from unbinned.analysis.measurement import measure_likelihood
from unbinned.analysis.toys import binned_counts, measurement_row
from unbinned.exceptions import ConfigError, DataError, ModelFileError
from unbinned.likelihood import CountingRegion, Likelihood
from unbinned.ml import SurrogateConfig, TrainConfig
from unbinned.ml.runtime import RunOptions
from unbinned.ml.sources import GaussianToySource
from unbinned.model import ModelSpec

SPEC = {
    "pois": [{"name": "mu", "bounds": [0.0, 10.0]}],
    "nuisances": [
        {"name": "scale", "nominal": 0.0, "width": 1.0, "bounds": [-3, 3], "acts_on": "shape"},
        {"name": "shift", "nominal": 0.0, "width": 1.0, "bounds": [-3, 3], "acts_on": "shape"},
        {"name": "bnorm", "nominal": 1.0, "width": 0.05, "bounds": [0.5, 1.5]},
    ],
    "processes": [
        {"name": "sig", "signal": True, "modifiers": [{"parameter": "mu"}]},
        {"name": "bkg", "modifiers": [{"parameter": "bnorm"}]},
    ],
    "regions": [{"name": "toy"}],
}
NO_BINS = TemplateOptions(bins=0)
MOMENTS = IntegrationOptions(mode="moments", keep=0.0)


@pytest.fixture(scope="module")
def model() -> AnalysisModel:
    cfg = SurrogateConfig(
        classifier=TrainConfig(hidden=(16, 16), epochs=3, batch_size=1024, patience=2),
        response=TrainConfig(hidden=(16, 16), epochs=3, batch_size=2048, patience=2),
        # 2000 events per point for every process (the moments' accuracy below is pinned
        # for that response): the largest process's larger budget off
        max_events_per_point=2000,
        max_events_per_point_largest=None,
    )
    source = GaussianToySource(3000, seed=1)
    reference = GaussianToySource(3000, seed=2)
    return train_analysis(
        source, ModelSpec.from_dict(SPEC), reference=reference, surrogate_config=cfg,
        templates=TemplateOptions(bins=4), run=RunOptions(progress=False))  # fmt: skip


def _data(seed: int = 5):
    return GaussianToySource(2000, seed=seed).nominal()


def test_measure_gives_valid_unbinned_and_binned_intervals(model):
    m = model.measure(_data())
    assert isinstance(m, Measurement)
    assert m.valid, m.fit
    assert m.lower < m.value < m.upper
    assert m.binned is not None
    assert m.binned.valid
    assert "width ratio unbinned/binned" in repr(m)
    assert "<table>" in m._repr_html_()
    d = m.to_dict()
    assert d["binned"]["method"] == "binned"
    json.dumps(d)


def test_measurement_carries_every_fitted_parameter(model):
    m = model.measure(_data(), binned=False)
    names = m.parameter_names
    assert names == ("mu", "scale", "shift", "bnorm")
    assert m.values["bnorm"] == m.fit.values["bnorm"]
    assert m.errors["scale"] > 0
    corr = m.correlation
    assert corr.shape == (4, 4)
    np.testing.assert_allclose(np.diag(corr), 1.0)
    np.testing.assert_allclose(corr, corr.T)
    assert m.correlation_of("mu", "shift") == corr[0, 2]
    pulls = {p.nuisance: p for p in m.pulls}
    assert set(pulls) == {"scale", "shift", "bnorm"}
    # pull (θ̂ − θ₀)/σ_prior and constraint σ̂/σ_prior
    assert pulls["bnorm"].pull == pytest.approx((m.values["bnorm"] - 1.0) / 0.05)
    assert pulls["shift"].constraint == pytest.approx(m.errors["shift"] / 1.0)
    text = repr(m)
    for word in ("fit parameters", "bnorm", "constr.", "corr(mu)"):
        assert word in text
    # each parameter's row ends with its correlation with the POI
    row = next(r for r in text.splitlines() if r.strip().startswith("shift "))
    assert float(row.split()[-1]) == pytest.approx(corr[0, 2], abs=6e-4)
    mu_row = next(r for r in text.splitlines() if r.strip().startswith("mu "))
    assert mu_row.split()[-1] == "+1.000"
    d = json.loads(json.dumps(m.to_dict()))
    assert d["correlation"]["parameters"] == list(names)
    assert np.allclose(d["correlation"]["matrix"], corr)
    assert d["pulls"]["scale"]["pull"] == pulls["scale"].pull
    assert m["mu"] is m
    with pytest.raises(KeyError, match="no parameter of interest"):
        m["nope"]


def test_binned_fit_is_redone_from_its_counts(model):
    m = model.measure(_data())
    assert m.binned is not None
    assert m.binned.counts is not None
    assert sum(c.sum() for c in m.binned.counts.values()) == pytest.approx(m.n_events)
    again = model.measure_counts({k: list(v) for k, v in m.binned.counts.items()})
    assert again.method == "binned"
    assert again.value == pytest.approx(m.binned.value, abs=1e-6)
    assert again.lower == pytest.approx(m.binned.lower, abs=1e-5)
    assert again.upper == pytest.approx(m.binned.upper, abs=1e-5)
    row = measurement_row(3, 1.0, m)
    assert all(isinstance(v, float | bool | int | str) for v in row.values())  # flat
    stored = json.loads(json.dumps(row))
    counts = binned_counts(stored)
    assert counts is not None
    assert set(counts) == set(m.binned.counts)
    for k, c in counts.items():
        np.testing.assert_array_equal(c, m.binned.counts[k])
    assert model.measure_counts(counts).value == pytest.approx(m.binned.value, abs=1e-6)
    assert binned_counts({"seed": 1}) is None
    assert (
        binned_counts({**stored, next(k for k in stored if k.startswith("binned_n:")): None})
        is None
    )


def _counts_task(seed: int, *, model: AnalysisModel) -> dict:
    return measurement_row(seed, 1.0, model.measure(_data(seed)))


def test_study_rows_keep_the_binned_counts(model):
    from unbinned.infer import run_toys

    study = run_toys(functools.partial(_counts_task, model=model), [5], store=None, progress=False)
    stored = study.rows.iloc[0].to_dict()
    counts = binned_counts(stored)
    assert counts is not None
    refit = model.measure_counts(counts, seed=5)
    assert refit.value == pytest.approx(stored["binned_mu_hat"], abs=1e-6)


def test_template_parametrisation_round_trips(model, tmp_path):
    from dataclasses import replace

    assert model.templates is not None
    name = model.templates.shape_nuisances[0]
    powered = replace(
        model,
        templates=replace(model.templates, parametrisation={name: (0.5, 2)}, secants={name: 2.5}),
    )
    again = AnalysisModel.load(powered.save(tmp_path / "a"))
    assert again.templates is not None
    assert again.templates.parametrisation == {name: (0.5, 2)}
    assert again.templates.secants == {name: 2.5}
    assert again.scaled(2.0).templates.parametrisation == {name: (0.5, 2)}
    assert again.scaled(2.0).templates.secants == {name: 2.5}


def test_templates_are_rebuilt_on_a_reference(model):
    name = model.templates.shape_nuisances[0]
    reached = model.with_templates(
        GaussianToySource(3000, seed=8), bins=4, template_reach={name: 2.5}
    )
    assert reached.templates.secants == {name: 2.5}
    with pytest.raises(ConfigError, match="expected 'auto', a mapping"):
        model.with_templates(GaussianToySource(3000, seed=8), bins=4, template_reach="far")
    with pytest.raises(ConfigError, match="expected a finite number"):
        model.with_templates(GaussianToySource(3000, seed=8), bins=4, template_reach={name: "x"})
    with pytest.raises(ConfigError, match="template_reach names"):
        model.with_templates(GaussianToySource(3000, seed=8), bins=4, template_reach={"nope": 2.0})
    rebuilt = model.with_templates(GaussianToySource(3000, seed=8), bins=4)
    assert rebuilt.templates is not None
    assert rebuilt.templates.regions[0].n_bins == 4
    assert rebuilt.integration is model.integration
    m = rebuilt.measure(_data())
    assert m.binned is not None
    assert m.binned.valid
    assert m.value == pytest.approx(model.measure(_data()).value)
    with pytest.raises(ConfigError, match="bins"):
        model.with_templates(GaussianToySource(3000, seed=8), bins=0)


def test_asimov_returns_the_point_and_scaling_narrows(model):
    a = model.measure_asimov({"mu": 1.0})
    assert a.value == pytest.approx(1.0, abs=1e-4)
    big = model.scaled(4.0).measure_asimov({"mu": 1.0})
    # 4x the luminosity: the statistical part halves, the constrained systematics do not
    assert 0.45 * a.width < big.width < 0.95 * a.width
    with pytest.raises(ConfigError, match="luminosity_scale"):
        model.scaled(0.0)


@pytest.mark.parametrize("compress", [False, True])
def test_save_load_round_trip_and_tampering(model, tmp_path, compress):
    if compress:
        from unbinned.likelihood.moments import MomentAccumulator

        acc = MomentAccumulator()
        acc.add(model.integration, keep=0.2)
        model = AnalysisModel(model.spec, model.surrogate, acc.result(), model.templates)
    path = model.save(tmp_path / "analysis")
    again = AnalysisModel.load(path)
    assert type(again.integration) is type(model.integration)
    data = _data(7)
    a, b = model.measure(data, binned=False), again.measure(data, binned=False)
    assert a.value == pytest.approx(b.value, rel=1e-9, abs=1e-12)
    with pytest.raises(ModelFileError, match="not empty"):
        model.save(path)
    raw = bytearray((path / "tensors.safetensors").read_bytes())
    raw[-5] ^= 0xFF
    (path / "tensors.safetensors").write_bytes(bytes(raw))
    with pytest.raises(ModelFileError, match="SHA-256"):
        AnalysisModel.load(path)
    with pytest.raises(ModelFileError, match="analysis.json is missing"):
        AnalysisModel.load(tmp_path)


def test_challenge_spec_fixes_untrained_shape_nuisances():
    spec = challenge_spec(("tes",))
    priors = {n.name: n.prior for n in spec.nuisances}
    assert priors["jes"] == "fixed"
    assert priors["soft_met"] == "fixed"
    assert priors["tes"] == "gaussian"
    full = challenge_spec()
    assert {n.name for n in full.shape_nuisances} == {"tes", "jes", "soft_met"}
    assert np.isclose(full.init_values()["soft_met"], 1.0)


def test_moments_integration_matches_events(model):
    from unbinned.likelihood.moments import MomentAccumulator

    acc = MomentAccumulator()
    acc.set_test_points(model.surrogate.monomials(nu) for nu in model.surrogate.design.points)
    acc.add(model.integration, keep=0.5)
    moments = acc.result()
    assert moments.max_rel_error < 1e-3  # at the ±3σ design points of this toy
    compressed = AnalysisModel(model.spec, model.surrogate, moments, model.templates)
    data = _data(9)
    a = model.measure(data, binned=False)
    b = compressed.measure(data, binned=False)
    assert b.valid
    assert b.value == pytest.approx(a.value, abs=1e-3 * a.width)
    assert b.width == pytest.approx(a.width, rel=1e-3)
    assert "moments" in repr(compressed)
    asimov = compressed.measure_asimov({"mu": 1.0})
    assert asimov.valid
    assert asimov.value == pytest.approx(1.0, abs=1e-4)
    assert compressed.scaled(2.0).integration.m0 == pytest.approx(2.0 * moments.m0)


def test_build_analysis_with_score_calibration(model, tmp_path):
    calibrated = build_analysis(
        model.surrogate, GaussianToySource(3000, seed=2), model.spec,
        templates=TemplateOptions(bins=4), calibration=CalibrationOptions(calibrate=True),
        progress=False,
    )  # fmt: skip
    assert calibrated.metadata["score_calibration"] is True
    assert calibrated.surrogate.calibration is not None
    assert model.surrogate.calibration is None  # the trained surrogate is not modified
    m = calibrated.measure(_data(11))
    assert m.valid
    assert m.lower < m.value < m.upper
    again = AnalysisModel.load(calibrated.save(tmp_path / "cal"))
    assert again.surrogate.calibration is not None
    b = again.measure(_data(11), binned=False)
    assert b.value == pytest.approx(m.value, rel=1e-9, abs=1e-12)


def test_recalibrated_classifier_reproduces_the_reference_yields(model, tmp_path):
    ref = GaussianToySource(3000, seed=3)  # not the fixture's reference (calibrated on)
    nominal = ref.nominal()
    names = model.spec.process_names
    truth = [float(nominal.weights[nominal.process_mask(p)].sum()) for p in names]
    plain = build_analysis(
        model.surrogate, ref, model.spec, templates=NO_BINS, integration=MOMENTS,
        progress=False, calibration=CalibrationOptions(recalibrate_classifier=False),
    )  # fmt: skip
    fixed = build_analysis(
        model.surrogate, ref, model.spec, templates=NO_BINS, integration=MOMENTS,
        progress=False, calibration=CalibrationOptions(recalibrate_classifier=True),
    )  # fmt: skip
    assert fixed.metadata["classifier_recalibrated_events"] == len(nominal)
    assert plain.metadata["classifier_recalibrated_events"] == 0
    # at the calibration's minimum, sum_i w_i c_p(x_i) = the process's weight on that sample
    np.testing.assert_allclose(fixed.integration.m0, truth, rtol=1e-5)
    assert not np.allclose(plain.integration.m0, truth, rtol=1e-5)
    assert model.surrogate.classifier.temperature != fixed.surrogate.classifier.temperature
    again = AnalysisModel.load(fixed.save(tmp_path / "recal"))
    assert again.surrogate.classifier.bias == pytest.approx(fixed.surrogate.classifier.bias)


def test_the_classifier_is_recalibrated_by_default_on_an_independent_reference(model):
    ref = GaussianToySource(3000, seed=2)
    n = len(ref.nominal())
    kw = {"templates": NO_BINS, "integration": MOMENTS, "progress": False}
    auto = build_analysis(model.surrogate, ref, model.spec, reference_independent=True, **kw)
    assert auto.metadata["classifier_recalibrated_events"] == n
    assert auto.options.calibration.recalibrate_classifier == "auto"
    # a reference that may hold the training's own events: never calibrated on
    same = build_analysis(model.surrogate, ref, model.spec, **kw)
    assert same.metadata["classifier_recalibrated_events"] == 0
    off = build_analysis(
        model.surrogate, ref, model.spec, reference_independent=True,
        calibration=CalibrationOptions(recalibrate_classifier=False), **kw,
    )  # fmt: skip
    assert off.metadata["classifier_recalibrated_events"] == 0


def test_build_analysis_with_odds_calibration(model):
    ref = GaussianToySource(3000, seed=2)
    with pytest.raises(ConfigError, match="calibrate_odds needs calibrate=True"):
        build_analysis(
            model.surrogate, ref, model.spec, templates=NO_BINS,
            calibration=CalibrationOptions(calibrate_odds=True),
        )  # fmt: skip
    odds = build_analysis(
        model.surrogate, ref, model.spec, templates=NO_BINS,
        calibration=CalibrationOptions(calibrate=True, calibrate_odds=True), progress=False,
    )  # fmt: skip
    assert np.any(odds.surrogate.calibration.log_odds != 0.0)
    assert odds.measure(_data(11), binned=False).valid


def test_build_analysis_refuses_a_reference_with_another_parametrisation(model):
    import dataclasses

    ref = GaussianToySource(3000, seed=2)

    class Rescaled:
        nuisances = (dataclasses.replace(ref.nuisances[0], scale=2.0), *ref.nuisances[1:])

        def __getattr__(self, name):
            return getattr(ref, name)

    with pytest.raises(ConfigError, match="declared differently"):
        build_analysis(model.surrogate, Rescaled(), model.spec, templates=NO_BINS, progress=False)


def test_build_analysis_streams_integration_batches(model):
    ref = GaussianToySource(3000, seed=2)
    whole = build_analysis(
        model.surrogate, ref, model.spec, templates=NO_BINS, integration=MOMENTS,
        progress=False,
    )  # fmt: skip
    batched = build_analysis(
        model.surrogate, ref, model.spec, templates=NO_BINS, integration=MOMENTS,
        progress=False, integration_batches=ref.nominal().chunks(1000),
    )  # fmt: skip
    assert batched.metadata["integration_events"] == whole.metadata["integration_events"]
    np.testing.assert_allclose(batched.integration.m0, whole.integration.m0, rtol=1e-12)
    np.testing.assert_allclose(batched.integration.m4, whole.integration.m4, rtol=1e-9)
    with pytest.raises(ConfigError, match="needs integration='moments'"):
        build_analysis(model.surrogate, ref, model.spec, templates=NO_BINS, integration_batches=[])
    with pytest.raises(DataError, match="no events"):
        build_analysis(
            model.surrogate, ref, model.spec, templates=NO_BINS,
            integration=IntegrationOptions(mode="moments"), integration_batches=[],
            progress=False,
        )  # fmt: skip


def test_build_analysis_records_every_option(model, tmp_path):
    ref = GaussianToySource(3000, seed=2)
    name = model.templates.shape_nuisances[0]
    templates = TemplateOptions(bins=3, powered=True, reach={name: 2.5})
    integration = IntegrationOptions(mode="moments", keep=0.1)
    calibration = CalibrationOptions(calibrate=True, calibration_events=2000)
    built = build_analysis(
        model.surrogate, ref, model.spec, templates=templates, integration=integration,
        calibration=calibration, progress=False,
    )  # fmt: skip
    assert built.options.templates == templates
    assert built.options.integration == integration
    assert built.options.calibration == calibration
    path = built.save(tmp_path / "opts")
    again = AnalysisModel.load(path)
    assert again.options == built.options
    # a file written before the options were recorded loads, with what its metadata implies
    content = json.loads((path / "analysis.json").read_text())
    del content["metadata"]["options"]
    (path / "analysis.json").write_text(json.dumps(content))
    old = AnalysisModel.load(path)
    assert old.options.templates == TemplateOptions(bins=3)
    assert old.options.integration == IntegrationOptions(mode="moments")
    # (built without an independent reference: "auto" did not recalibrate)
    assert old.options.calibration == CalibrationOptions(
        calibrate=True, recalibrate_classifier=False
    )
    content["metadata"]["options"] = {"templates": {"bins": "many"}}
    (path / "analysis.json").write_text(json.dumps(content))
    with pytest.raises(ModelFileError, match="bins"):
        AnalysisModel.load(path)
    rebuilt = model.with_templates(ref, bins=5, template_reach=None)
    assert rebuilt.options.templates == TemplateOptions(bins=5, reach=None)


def test_a_poi_on_its_bound_is_flagged_in_the_measurement():
    spec = ModelSpec.from_dict(
        {
            "pois": [{"name": "mu", "bounds": [0.0, 10.0]}],
            "processes": [
                {"name": "s", "signal": True, "modifiers": [{"parameter": "mu"}]},
                {"name": "b"},
            ],
            "regions": [{"name": "c", "kind": "counting"}],
        }
    )
    lik = Likelihood(spec, [CountingRegion("c", ("s", "b"), 300.0, np.array([20.0, 50.0]))])
    m = measure_likelihood(lik, "mu", 0.6827, 0, "unbinned", None, n_events=300.0)
    assert "(mu = 10 on a bound of its range)" in repr(m)
    assert m.to_dict()["at_limit"] == ["mu"]
