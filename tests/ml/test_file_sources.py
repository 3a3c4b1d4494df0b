"""Shape variations from files and weight columns (unbinned.ml.file_sources)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from unbinned.data import FileSamples
from unbinned.exceptions import ConfigError, DataError
from unbinned.ml import (
    CallableVariationSource,
    Design,
    FileVariationSource,
    GaussianToySource,
    ShapeNuisance,
    SurrogateConfig,
    TrainConfig,
    VariationPoint,
    VariationSource,
    closure_test,
    default_design,
    leave_one_out_closure,
    train_surrogate,
)
from unbinned.ml.diagnostics import CLASSIFIER_SCORE
from unbinned.ml.holdout import spare_points
from unbinned.ml.runtime import RunOptions

SCALE = ShapeNuisance("scale", 1.0, 0.05, 0.8, 1.2)  # lambda = 1 + 0.05 nu, as the toy's


def _frame(ev) -> pd.DataFrame:
    return pd.DataFrame(
        {"x0": ev.features["x0"], "x1": ev.features["x1"], "w": ev.weights,
         "id": ev.extras["event_id"], "wup": 1.1 * ev.weights}
    )  # fmt: skip


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Gaussian toy's nominal and scale = ±1σ, +2σ samples as parquet files."""
    d = tmp_path_factory.mktemp("toyfiles")
    toy = GaussianToySource(3000, seed=3)
    for p in toy.processes:
        _frame(toy.nominal(p)).to_parquet(d / f"{p}.parquet")
        for tag, nu in (("down", -1.0), ("up", 1.0), ("up2", 2.0)):
            _frame(toy.varied(p, [nu, 0.0])).to_parquet(d / f"{p}_{tag}.parquet")
    return d


def _samples(folder: Path, **kw: object) -> FileSamples:
    return FileSamples({"sig": ["sig.parquet"], "bkg": ["bkg.parquet"]}, features=["x0", "x1"],
                       weight="w", base_dir=folder, **kw)  # fmt: skip


def _points(**files: str) -> list[VariationPoint]:
    return [
        VariationPoint({"scale": v}, files={p: [f"{p}_{tag}.parquet"] for p in ("sig", "bkg")})
        for tag, v in (("down", 0.95), ("up", 1.05))
    ]


def test_source_protocol_and_points(folder: Path) -> None:
    src = FileVariationSource(_samples(folder), [SCALE], _points())
    assert isinstance(src, VariationSource)
    assert src.processes == ("sig", "bkg")
    np.testing.assert_allclose(src.design.points, [[0.0], [-1.0], [1.0]])
    np.testing.assert_allclose(src.closure_point(0), [1.0])
    up = src.varied("bkg", [1.0])
    toy = GaussianToySource(3000, seed=3)
    np.testing.assert_allclose(up.weights.sum(), toy.varied("bkg", [1.0, 0.0]).weights.sum())
    # independent files: the ids of a point are offset from the nominal ones
    ids = src.generated_ids("bkg")
    assert len(ids) == len(src.nominal("bkg")) + len(up) + len(src.varied("bkg", [-1.0]))
    assert src.varied("bkg", [0.0]).n_events == src.nominal("bkg").n_events
    with pytest.raises(DataError, match="exist only at their points"):
        src.varied("bkg", [2.0])
    assert "2 variation points" in repr(src)


def test_same_events_and_weight_columns(folder: Path) -> None:
    samples = _samples(folder, event_id="id")
    src = FileVariationSource(samples, [SCALE], _points())
    assert np.array_equal(np.unique(src.nominal("sig").extras["event_id"]),
                          src.generated_ids("sig"))  # fmt: skip
    weights = FileVariationSource(
        samples,
        [ShapeNuisance("norm_like", 0.0, 1.0)],
        [VariationPoint({"norm_like": 1.0}, weight="wup"),
         VariationPoint({"norm_like": -1.0}, factor="wup")],
    )  # fmt: skip
    nom = weights.nominal("bkg")
    np.testing.assert_allclose(weights.varied("bkg", [1.0]).weights, 1.1 * nom.weights)
    np.testing.assert_allclose(weights.varied("bkg", [-1.0]).weights, 1.1 * nom.weights**2)
    # a process a point's files leave out is unaffected
    partial = FileVariationSource(
        samples, [SCALE],
        [VariationPoint({"scale": 0.95}, files={"sig": ["sig_down.parquet"]}),
         VariationPoint({"scale": 1.05}, files={"sig": ["sig_up.parquet"]})],
    )  # fmt: skip
    np.testing.assert_allclose(partial.varied("bkg", [1.0]).weights, partial.nominal("bkg").weights)


def test_errors(folder: Path) -> None:
    s = _samples(folder)
    with pytest.raises(
        ConfigError, match=r"scale=1.3 lies outside the nuisance's bounds \[0.8, 1.2\]"
    ):
        FileVariationSource(s, [SCALE], [VariationPoint({"scale": 1.3}, weight="wup")])
    with pytest.raises(ConfigError, match="cannot determine the 2 coefficients"):
        FileVariationSource(s, [SCALE], _points()[1:])
    two = [SCALE, ShapeNuisance("other", 0.0, 1.0)]
    four = [*_points(), VariationPoint({"other": 1.0}, weight="wup"),
            VariationPoint({"other": -1.0}, weight="wup")]  # fmt: skip
    with pytest.raises(ConfigError, match="no variation point varies scale and other together"):
        FileVariationSource(s, two, four)
    missing = VariationPoint({"scale": 1.05}, files={"sig": ["nope.parquet"]})
    with pytest.raises(DataError, match=r"variation at scale=1.05 'sig': no file .*nope.parquet"):
        FileVariationSource(s, [SCALE], [_points()[0], missing])
    with pytest.raises(ConfigError, match="unknown nuisance"):
        FileVariationSource(s, [SCALE], [VariationPoint({"tes": 1.0}, weight="w")])
    with pytest.raises(ConfigError, match=r"give files, a weight or factor column, or files "):
        VariationPoint({"scale": 1.0})
    with pytest.raises(ConfigError, match="give weight or factor, not both"):
        VariationPoint({"scale": 1.0}, weight="wup", factor="wup")


OTHER = ShapeNuisance("other", 1.0, 1.0, 0.0, 3.0)  # a weight nuisance, e.g. a QCD scale


def _up_files() -> dict[str, list[str]]:
    return {p: [f"{p}_up.parquet"] for p in ("sig", "bkg")}


def _weight_points(mixed: VariationPoint | None = None) -> list[VariationPoint]:
    """scale at ±1σ from files, other at 2 and 0.5 from weight columns, and ``mixed``."""
    pts = [*_points(), VariationPoint({"other": 2.0}, weight="wup"),
           VariationPoint({"other": 0.5}, factor="wup")]  # fmt: skip
    return pts if mixed is None else [*pts, mixed]


def test_files_with_a_weight_column_make_the_mixed_point(folder: Path) -> None:
    """A file nuisance and a weight nuisance: their mixed point is the files reweighted."""
    samples = _samples(folder, event_id="id")
    mixed = VariationPoint({"scale": 1.05, "other": 2.0}, files=_up_files(), weight="wup")
    src = FileVariationSource(samples, [SCALE, OTHER], _weight_points(mixed))
    np.testing.assert_allclose(src.design.points[-1], [1.0, 1.0])
    assert len(src.design) == 6  # nominal + 5 points: the 5 coefficients of a quadratic in 2
    up = src.varied("bkg", [1.0, 0.0])
    both = src.varied("bkg", [1.0, 1.0])
    raw = pd.read_parquet(folder / "bkg_up.parquet")
    np.testing.assert_allclose(both.weights, raw["wup"])  # the up files' own weight column
    np.testing.assert_allclose(both.weights, 1.1 * up.weights)
    np.testing.assert_allclose(both.features["x0"], up.features["x0"])  # the up files' events
    assert np.array_equal(both.extras["event_id"], up.extras["event_id"])
    # factor: multiplies the files' weight column; a process the files leave out keeps its
    # nominal events, reweighted by the column of the nominal files
    partial = VariationPoint({"scale": 1.05, "other": 2.0}, files={"sig": ["sig_up.parquet"]},
                             factor="wup")  # fmt: skip
    src2 = FileVariationSource(samples, [SCALE, OTHER], _weight_points(partial))
    sig = src2.varied("sig", [1.0, 1.0])
    np.testing.assert_allclose(sig.weights, 1.1 * src2.varied("sig", [1.0, 0.0]).weights ** 2)
    bkg = src2.varied("bkg", [1.0, 1.0])
    np.testing.assert_allclose(bkg.weights, 1.1 * src2.nominal("bkg").weights ** 2)
    assert list(bkg.extras.columns) == list(sig.extras.columns)
    # the weight-only points reweight the nominal events, as before
    np.testing.assert_allclose(src.varied("bkg", [0.0, 1.0]).weights,
                               1.1 * src.nominal("bkg").weights)  # fmt: skip


def test_a_missing_mixed_point_or_column_is_one_line(folder: Path, tmp_path: Path) -> None:
    s = _samples(folder, event_id="id")
    with pytest.raises(ConfigError) as e:
        FileVariationSource(s, [SCALE, OTHER], _weight_points())
    message = str(e.value)
    assert "no variation point varies scale and other together" in message
    add = ("add the point {at: {scale: 1.05, other: 2}, files: <the files of the scale=1.05 "
           "point>, weight: wup} (the scale=1.05 events reweighted by 'wup'")  # fmt: skip
    assert add in message
    assert "\n" not in message
    # both nuisances from weight columns: a column with both values' weight
    w = [
        VariationPoint({"other": 2.0}, weight="wup"),
        VariationPoint({"other": 0.5}, weight="w"),
        VariationPoint({"scale": 1.05}, weight="wup"),
        VariationPoint({"scale": 0.95}, weight="w"),
    ]
    with pytest.raises(ConfigError, match=r"weight: <a column with each event's weight at both"):
        FileVariationSource(s, [SCALE, OTHER], w)
    # the column must be in the point's own files: said when the source is made
    for p in ("sig", "bkg"):
        for tag in ("", "_down", "_up"):
            frame = pd.read_parquet(folder / f"{p}{tag}.parquet")
            if tag == "_up" and p == "bkg":
                frame = frame.drop(columns="wup")
            frame.to_parquet(tmp_path / f"{p}{tag}.parquet")
    mixed = VariationPoint({"scale": 1.05, "other": 2.0}, files=_up_files(), weight="wup")
    with pytest.raises(
        DataError,
        match=r"variation at scale=1.05, other=2: '.*bkg_up.parquet' lacks the weight column "
        r"'wup'; a point with files reads it from its own files",
    ):
        FileVariationSource(_samples(tmp_path, event_id="id"), [SCALE, OTHER],
                            _weight_points(mixed))  # fmt: skip


def test_trains_and_learns_the_shift(folder: Path) -> None:
    """A small surrogate from ±1σ files learns the toy's scale response at the points."""
    src = FileVariationSource(_samples(folder, event_id="id"), [SCALE], _points())
    cfg = TrainConfig(hidden=(32, 32), epochs=40, batch_size=512, learning_rate=3e-3)
    config = SurrogateConfig(classifier=cfg, response=cfg)
    sur = train_surrogate(src, design=src.design, config=config, run=RunOptions(progress=False))
    toy = GaussianToySource(3000, seed=3)
    nom = src.nominal("bkg")
    x = nom.feature_array()
    exact = toy.exact_log_ratio(x, "bkg", [1.0, 0.0])
    learned = sur.responses["bkg"].log_ratio(nom, [1.0])
    assert np.corrcoef(exact, learned)[0, 1] > 0.9  # 0.99 when written


# ---------------------------------------------------------------------------- callables
def vary_scale(frame: pd.DataFrame, scale: float) -> pd.DataFrame:
    """The toy's scale nuisance on x0 around the process mean (the exact variation)."""
    out = frame.copy()
    out["x0"] = out["x0"] * scale
    return out


def scale_weights(frame: pd.DataFrame, scale: float, seed: int, process: str) -> np.ndarray:
    """Per-event weights at ``scale`` (a weight variation); takes the optional keywords."""
    assert isinstance(seed, int)
    assert process in ("sig", "bkg")
    return frame["w"].to_numpy() * (1.0 + (scale - 1.0) * frame["x1"].to_numpy())


def test_callable_source_varies_at_any_nu(folder: Path) -> None:
    samples = _samples(folder, event_id="id", selection="x0 > -2")
    src = CallableVariationSource(samples, [SCALE], vary_scale)
    assert isinstance(src, VariationSource)
    nom = src.nominal("sig")
    at = src.varied("sig", [0.0])
    np.testing.assert_allclose(at.weights, nom.weights)
    up = src.varied("sig", [1.7])  # any nu: scale 1.085
    x_nom = pd.Series(nom.features["x0"].to_numpy(), index=nom.extras["event_id"].to_numpy())
    x_up = pd.Series(up.features["x0"].to_numpy(), index=up.extras["event_id"].to_numpy())
    both = x_nom.index.intersection(x_up.index)
    np.testing.assert_allclose(x_up[both], 1.085 * x_nom[both])
    # the selection applies after the variation: events migrate across x0 > -2
    raw = pd.read_parquet(folder / "sig.parquet")
    assert up.n_events == int((1.085 * raw["x0"] > -2).sum())
    assert len(src.generated_ids("sig")) == len(raw)
    sub = src.varied("sig", [1.0], event_ids=src.generated_ids("sig")[:10])
    assert sub.n_events <= 10
    weights = CallableVariationSource(samples, [SCALE], scale_weights, seed=4)
    w = weights.varied("bkg", [2.0])
    bkg = weights.nominal("bkg")
    np.testing.assert_allclose(w.weights, bkg.weights * (1 + 0.1 * bkg.features["x1"].to_numpy()))
    assert "vary_scale varies ['scale']" in repr(src)
    # samples without a weight column: the function's weights (it reads the extra column w)
    unweighted = FileSamples({"sig": ["sig.parquet"], "bkg": ["bkg.parquet"]},
                             features=["x0", "x1"], base_dir=folder)  # fmt: skip
    src1 = CallableVariationSource(unweighted, [SCALE], scale_weights, columns=["w"])
    np.testing.assert_allclose(src1.nominal("bkg").weights, 1.0)
    np.testing.assert_allclose(src1.varied("bkg", [2.0]).weights, w.weights)


def test_callable_source_errors(folder: Path) -> None:
    samples = _samples(folder)
    with pytest.raises(ConfigError, match=r"function: .*cannot be called as f\(frame, scale=...\)"):
        CallableVariationSource(samples, [SCALE], lambda frame, tes: frame)
    with pytest.raises(ConfigError, match="cannot import module 'no_such_module'"):
        CallableVariationSource(samples, [SCALE], "no_such_module:vary")
    drops = CallableVariationSource(samples, [SCALE], lambda frame, scale: frame[["x0", "x1"]])
    with pytest.raises(
        DataError, match=r"returned a DataFrame without the column\(s\) \['event_id'"
    ):
        drops.varied("sig", [1.0])
    short = CallableVariationSource(samples, [SCALE], lambda frame, scale: np.ones(3))
    with pytest.raises(DataError, match=r"returned ndarray of shape \(3,\); expected the varied"):
        short.varied("sig", [1.0])
    nan = CallableVariationSource(samples, [SCALE], lambda frame, scale: frame["w"] * np.nan)
    with pytest.raises(DataError, match="weight column 'w' has .* NaN"):
        nan.varied("sig", [1.0])


# ---------------------------------------------------------------------------- leave-one-out
def test_spare_points_say_what_can_be_held_out() -> None:
    pm1 = Design(np.array([[0.0], [-1.0], [1.0]]), ("a",))
    idx, note = spare_points(pm1)
    assert idx == []
    assert "±1σ alone leaves no point to hold out" in note
    three = Design(np.array([[0.0], [-1.0], [1.0], [2.0]]), ("a",))
    assert spare_points(three) == ([1, 2, 3], "")
    two = Design(np.array([[0, 0], [-1, 0], [1, 0], [0, -1], [0, 1], [1, 1], [2, 0.0]]), ("a", "b"))
    idx, note = spare_points(two)  # without (1, 1) nothing fixes the cross term a·b
    assert 5 not in idx
    assert "cannot be held out" in note


@pytest.mark.filterwarnings("ignore::unbinned.exceptions.TrainingWarning")
def test_leave_one_out_closure(folder: Path) -> None:
    """Three points of one nuisance: each held out, the others' response predicts it."""
    points = [
        *_points(),
        VariationPoint({"scale": 1.10}, files={p: [f"{p}_up2.parquet"] for p in ("sig", "bkg")}),
    ]
    src = FileVariationSource(_samples(folder, event_id="id"), [SCALE], points)
    cfg = TrainConfig(hidden=(16, 16), epochs=8, batch_size=512, learning_rate=3e-3)
    config = SurrogateConfig(classifier=cfg, response=cfg)
    sur = train_surrogate(src, design=src.design, config=config, run=RunOptions(progress=False))
    loo = leave_one_out_closure(sur, src, src.design)
    np.testing.assert_allclose(loo.held_out, [[-1.0], [1.0], [2.0]])
    np.testing.assert_allclose(sorted(loo.chi2_ndf), [[-1.0], [1.0], [2.0]])
    assert all(np.isfinite(v) for v in loo.chi2_ndf.values())
    assert {e.process for e in loo.result.entries} == {"sig", "bkg"}
    assert "3 points of ['scale'] held out in turn: nu=[-1.0]: chi2/ndf" in repr(loo)
    assert loo.to_dict()["note"] == ""
    none = leave_one_out_closure(sur, src, Design(src.design.points[:3], ("scale",)))
    assert none.result is None
    assert "±1σ alone" in repr(none)


def test_leave_one_out_failures_warn() -> None:
    """A held-out point the others' responses miss is one warning line; a good one none."""
    from unbinned.ml.diagnostics import ClosureEntry, ClosureResult
    from unbinned.ml.holdout import LeaveOneOutClosure

    def entry(nu: float, process: str, chi2: float) -> ClosureEntry:
        z = np.zeros(10)
        return ClosureEntry((nu,), process, CLASSIFIER_SCORE, chi2, 10, np.arange(11.0), z, z, z)

    def loo(*entries: ClosureEntry) -> LeaveOneOutClosure:
        result = ClosureResult(("scale",), entries, (), "paired", (CLASSIFIER_SCORE,))
        return LeaveOneOutClosure(("scale",), np.array([[-1.0], [2.0]]), result)

    good = loo(entry(-1.0, "sig", 9.0), entry(2.0, "bkg", 12.0))
    assert good.warnings() == ()
    assert good.to_dict()["warnings"] == []
    bad = loo(entry(-1.0, "sig", 9.0), entry(2.0, "bkg", 80.0), entry(2.0, "sig", 50.0))
    (line,) = bad.warnings()
    assert "leave-one-out closure: 2 of 3 (process, held-out point) entries fail" in line
    assert "worst bkg with ν = (scale=2) held out: χ²/ndf 80.0/10 = 8.00 > 2" in line
    assert bad.to_dict()["warnings"] == [line]
    assert bad.warnings(max_chi2_ndf=10.0) == ()
    # χ²/ndf above the limit but not significant (few degrees of freedom): no warning
    few = ClosureEntry((2.0,), "bkg", CLASSIFIER_SCORE, 7.0, 2, np.arange(3.0), *[np.zeros(2)] * 3)
    assert loo(few).warnings() == ()
    none = LeaveOneOutClosure(("scale",), np.zeros((0, 1)), None, "no point to hold out")
    assert none.warnings() == ()


def test_leave_one_out_retrains_with_the_model_s_events_per_point() -> None:
    """The retrained responses see as many events per point as the training gave each."""
    from types import SimpleNamespace

    from unbinned.ml.holdout import _events_per_point

    model = SimpleNamespace(processes=("sig", "big", "small"),
                            simulated_yields={"sig": 10.0, "big": 1000.0, "small": 100.0},
                            nominal_yields={})  # fmt: skip
    saved = {"max_events_per_point": 60_000, "max_events_per_point_largest": 1_000_000}
    got = _events_per_point(model, saved, ["sig", "big", "small"], None)
    assert got == {"sig": 60_000, "big": 1_000_000, "small": 100_000}
    assert _events_per_point(model, {"max_events_per_point": 500}, ["big"], None) == {"big": 500}
    assert _events_per_point(model, saved, ["sig", "big"], 7) == {"sig": 7, "big": 7}


def test_bad_variation_inputs_are_one_line(folder: Path, tmp_path: Path) -> None:
    """A variation file without a feature, a weight-variation column with NaN, an empty
    process at a point: one line naming the file/column/point."""
    for p in ("sig", "bkg"):
        for tag in ("", "_down", "_up"):
            pd.read_parquet(folder / f"{p}{tag}.parquet").to_parquet(tmp_path / f"{p}{tag}.parquet")
    up = pd.read_parquet(tmp_path / "sig_up.parquet")
    up.drop(columns="x1").to_parquet(tmp_path / "sig_up_nox1.parquet")
    (up.assign(x0=-99.0)).to_parquet(tmp_path / "sig_up_empty.parquet")
    nom = pd.read_parquet(tmp_path / "bkg.parquet")
    nom.loc[5, "wup"] = np.nan
    nom.to_parquet(tmp_path / "bkg.parquet")
    s = _samples(tmp_path, selection="x0 > -50")

    def source(up_file: str) -> FileVariationSource:
        pts = [_points()[0], VariationPoint({"scale": 1.05}, files={"sig": [up_file]})]
        return FileVariationSource(s, [SCALE], pts)

    errors = []
    with pytest.raises(
        DataError, match=r"sig_up_nox1.parquet' lacks the feature column\(s\) \['x1'\]"
    ) as e:
        source("sig_up_nox1.parquet").varied("sig", [1.0])
    errors.append(e)
    with pytest.raises(
        DataError, match=r"variation at scale=1.05: process 'sig' has no events .*sig_up_empty"
    ) as e:
        source("sig_up_empty.parquet").varied("sig", [1.0])
    errors.append(e)
    weights = FileVariationSource(
        s, [SCALE], [VariationPoint({"scale": 0.95}, weight="wup"),
                     VariationPoint({"scale": 1.05}, factor="wup")],
    )  # fmt: skip
    with pytest.raises(
        DataError, match=r"variation at scale=1.05: the column 'wup' has 1 NaN"
    ) as e:
        weights.varied("bkg", [1.0])
    errors.append(e)
    assert all("\n" not in str(e.value) for e in errors)


@pytest.mark.filterwarnings("ignore::unbinned.exceptions.TrainingWarning")
def test_callable_source_trains_and_closes_between_points(folder: Path) -> None:
    """The usual design from a function; closure at nu = 1.5, a point the design lacks."""
    src = CallableVariationSource(_samples(folder, event_id="id"), [SCALE], vary_scale)
    design = default_design(src.nuisances, steps=(1.0, 2.0))
    cfg = TrainConfig(hidden=(16, 16), epochs=10, batch_size=512, learning_rate=3e-3)
    config = SurrogateConfig(classifier=cfg, response=cfg)
    sur = train_surrogate(src, design=design, config=config, run=RunOptions(progress=False))
    closure = closure_test(sur, src, [[1.5]], features=["x0", CLASSIFIER_SCORE], n_bins=10)
    assert closure.max_chi2_ndf < 3.0  # 1.7 when written
    assert closure.max_abs_yield_deviation < 0.02  # 0.13 % when written
