r"""Validation of the surrogates: calibration, yield closure, held-out closure, oracle accuracy.

* :func:`reliability`: reliability diagram of the classifier (per process,
  predicted c_p in quantile bins vs the observed weighted fraction of that process).
* :func:`yield_closure`: :math:`\sum_i w_i c_p(x_i)` against each process yield.
* :func:`closure_test`: at variation points *not used in training*, nominal events
  reweighted by :math:`R_p(x|\nu)` against the truly varied simulation, in
  histograms of chosen features and of the classifier score (χ²/ndf per feature)
  and in the total yield.
* :func:`oracle_comparison`: on a source with an exact answer (an analytic
  oracle model), the RMS error of the learned ln R_p against the exact log-ratio
  over the bulk of the data, and of the learned fractions against the exact ones.

Every result is a dataclass with the numbers, a readable ``repr`` and a
``plot(..., ax=None)`` method returning the matplotlib artists (matplotlib is
imported only there).

χ² of the closure: with ``pairing="independent"`` (default) the generated events
are split at random in two halves; the nominal half is reweighted and compared with
the varied half, each scaled to the full sample, with variance
:math:`\sum (wR)^2 + \sum w'^2` per bin (two independent samples).  With
``pairing="paired"`` all events are used on both sides and the variance per bin is
:math:`\sum_e (w_e R_e 1_b(x_e) - w'_e 1_b(x'_e))^2` over generated events e: the
exact variance of the difference for the same events, a far more stringent test
(it resolves errors of R well below the statistical precision of either histogram).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from unbinned.data.events import EventSet
from unbinned.exceptions import ConfigError, DataError
from unbinned.ml._features import feature_matrix
from unbinned.ml.classifier import ProcessClassifier, _labels
from unbinned.ml.design import Design, validation_design
from unbinned.ml.sources import EVENT_ID, ExactSource, VariationSource
from unbinned.ml.yields import monomials

__all__ = [
    "CLASSIFIER_SCORE",
    "ClosureEntry",
    "ClosureResult",
    "OracleComparison",
    "ReliabilityDiagram",
    "YieldClosure",
    "YieldEntry",
    "closure_test",
    "oracle_comparison",
    "reliability",
    "yield_closure",
]

FloatArray = npt.NDArray[np.float64]
CLASSIFIER_SCORE = "classifier_score"
"""Pseudo-feature name: the classifier's fraction of the first (signal) process."""

HTAUTAU_CLOSURE_FEATURES = (
    "DER_mass_vis",
    "PRI_met",
    "PRI_lep_pt",
    "PRI_had_pt",
    CLASSIFIER_SCORE,
)


def _weighted_quantile_edges(values: FloatArray, weights: FloatArray, n_bins: int) -> FloatArray:
    if values.size == 0:  # no events (e.g. a process absent from a signal-like tail)
        return np.empty(0)
    order = np.argsort(values, kind="stable")
    v, w = values[order], np.abs(weights[order])
    cw = np.cumsum(w)
    if cw[-1] <= 0:
        return np.unique(np.quantile(values, np.linspace(0, 1, n_bins + 1)[1:-1]))
    targets = cw[-1] * np.linspace(0, 1, n_bins + 1)[1:-1]
    edges = v[np.minimum(np.searchsorted(cw, targets), len(v) - 1)]
    return np.unique(edges)


# ---------------------------------------------------------------------------- reliability
@dataclass(frozen=True, repr=False)
class ReliabilityDiagram:
    """Per process and bin of predicted c_p: mean prediction vs observed fraction.

    Attributes
    ----------
    processes
        Process names.
    predicted, observed, observed_error, bin_weight
        Arrays of shape (P, B): weighted mean of c_p in the bin, weighted fraction
        of events of process p in the bin, its statistical error, sum of weights.
    calibration_error
        Per process, the weight-averaged |predicted - observed| over the bins.
    """

    processes: tuple[str, ...]
    predicted: FloatArray
    observed: FloatArray
    observed_error: FloatArray
    bin_weight: FloatArray
    calibration_error: dict[str, float]

    def __repr__(self) -> str:
        rows = ", ".join(f"{p} {v:.3g}" for p, v in self.calibration_error.items())
        return f"ReliabilityDiagram({self.predicted.shape[1]} bins; calibration error: {rows})"

    def plot(self, process: str | None = None, ax: Any = None, *, log: bool = True) -> list[Any]:
        """Observed vs predicted fraction with the diagonal; all processes unless one is named."""
        import matplotlib.pyplot as plt

        ax = ax or plt.gca()
        artists: list[Any] = []
        for j, p in enumerate(self.processes):
            if process is not None and p != process:
                continue
            artists.append(
                ax.errorbar(
                    self.predicted[j], self.observed[j], yerr=self.observed_error[j],
                    marker="o", ls="", label=p,
                )
            )  # fmt: skip
        lo = max(float(np.nanmin(self.predicted[self.predicted > 0], initial=1e-6)), 1e-6)
        artists += ax.plot([lo, 1], [lo, 1], color="grey", ls="--", lw=1)
        if log:
            ax.set_xscale("log")
            ax.set_yscale("log")
        ax.set_xlabel("predicted fraction $c_p(x)$")
        ax.set_ylabel("observed fraction")
        ax.legend()
        return artists


def reliability(
    classifier: ProcessClassifier, events: EventSet, *, n_bins: int = 10
) -> ReliabilityDiagram:
    """Reliability diagram of ``classifier`` on held-out ``events`` (quantile bins of each c_p)."""
    if n_bins < 2:
        raise ConfigError(f"n_bins={n_bins}; expected at least 2")
    frac = classifier.fractions(events)
    labels = _labels(events, classifier.processes)
    w = events.weights
    p = len(classifier.processes)
    pred = np.full((p, n_bins), np.nan)
    obs = np.full((p, n_bins), np.nan)
    err = np.full((p, n_bins), np.nan)
    bw = np.zeros((p, n_bins))
    ce = {}
    for j, name in enumerate(classifier.processes):
        c = frac[:, j]
        edges = _weighted_quantile_edges(c, w, n_bins)
        b = np.searchsorted(edges, c, side="right")
        is_p = labels == j
        for k in range(min(n_bins, len(edges) + 1)):
            m = b == k
            sw = w[m].sum()
            if not m.any() or sw <= 0:
                continue
            f = w[m & is_p].sum() / sw
            pred[j, k] = (w[m] * c[m]).sum() / sw
            obs[j, k] = f
            var = (w[m & is_p] ** 2).sum() * (1 - f) ** 2 + (w[m & ~is_p] ** 2).sum() * f**2
            err[j, k] = np.sqrt(var) / sw
            bw[j, k] = sw
        ok = np.isfinite(pred[j])
        ce[name] = float(np.sum(bw[j, ok] * np.abs(pred[j, ok] - obs[j, ok])) / bw[j, ok].sum())
    return ReliabilityDiagram(tuple(classifier.processes), pred, obs, err, bw, ce)


# ---------------------------------------------------------------------------- yields
@dataclass(frozen=True, repr=False)
class YieldClosure:
    """Σ_i w_i c_p(x_i) against the true process yields Σ_{i∈p} w_i."""

    processes: tuple[str, ...]
    predicted: dict[str, float]
    true: dict[str, float]
    uncertainty: dict[str, float]

    @property
    def relative_deviation(self) -> dict[str, float]:
        """predicted / true - 1 per process."""
        return {p: self.predicted[p] / self.true[p] - 1.0 for p in self.processes}

    @property
    def max_abs_relative_deviation(self) -> float:
        """The worst |predicted / true - 1|."""
        return max(abs(v) for v in self.relative_deviation.values())

    def __repr__(self) -> str:
        rows = [
            f"  {p:<12} predicted {self.predicted[p]:>14.6g}  true {self.true[p]:>14.6g}  "
            f"dev {100 * self.relative_deviation[p]:+.3f}% "
            f"(stat ±{100 * self.uncertainty[p] / self.true[p]:.3f}%)"
            for p in self.processes
        ]
        return "YieldClosure:\n" + "\n".join(rows)


def yield_closure(classifier: ProcessClassifier, events: EventSet) -> YieldClosure:
    """Yield closure of the fractions on (held-out) ``events``.

    The uncertainty is the statistical error of Σ_i w_i (c_p(x_i) - y_ip).
    """
    frac = classifier.fractions(events)
    labels = _labels(events, classifier.processes)
    w = events.weights
    pred, true, unc = {}, {}, {}
    for j, p in enumerate(classifier.processes):
        y = (labels == j).astype(np.float64)
        pred[p] = float(w @ frac[:, j])
        true[p] = float(w @ y)
        unc[p] = float(np.sqrt(np.sum((w * (frac[:, j] - y)) ** 2)))
    return YieldClosure(tuple(classifier.processes), pred, true, unc)


# ---------------------------------------------------------------------------- closure
@dataclass(frozen=True, repr=False)
class ClosureEntry:
    """One histogram comparison: nominal × R_p(x|ν) vs varied, for one feature."""

    nu: tuple[float, ...]
    process: str
    feature: str
    chi2: float
    ndf: int
    edges: FloatArray
    reweighted: FloatArray
    varied: FloatArray
    variance: FloatArray

    @property
    def chi2_ndf(self) -> float:
        """χ²/ndf (nan without populated bins)."""
        return self.chi2 / self.ndf if self.ndf else float("nan")

    def __repr__(self) -> str:
        return (
            f"ClosureEntry(nu={list(self.nu)}, {self.process}, {self.feature}: "
            f"chi2/ndf {self.chi2:.1f}/{self.ndf} = {self.chi2_ndf:.3f})"
        )


@dataclass(frozen=True, repr=False)
class YieldEntry:
    """Total yield at ν: nominal reweighted by R_p vs the varied simulation."""

    nu: tuple[float, ...]
    process: str
    predicted: float
    true: float
    sigma: float

    @property
    def relative_deviation(self) -> float:
        """predicted / true - 1."""
        return self.predicted / self.true - 1.0

    @property
    def pull(self) -> float:
        """(predicted - true) / σ."""
        return (self.predicted - self.true) / self.sigma if self.sigma > 0 else float("nan")


@dataclass(frozen=True, repr=False)
class ClosureResult:
    """All closure comparisons at the held-out variation points."""

    nuisance_names: tuple[str, ...]
    entries: tuple[ClosureEntry, ...]
    yields: tuple[YieldEntry, ...]
    pairing: str
    features: tuple[str, ...] = field(default=())

    @property
    def max_chi2_ndf(self) -> float:
        """The worst χ²/ndf over points, processes and features."""
        vals = [e.chi2_ndf for e in self.entries if e.ndf]
        return float(max(vals)) if vals else float("nan")

    def chi2_ndf_by_feature(self) -> dict[str, float]:
        """Worst χ²/ndf per feature."""
        out: dict[str, float] = {}
        for e in self.entries:
            if e.ndf:
                out[e.feature] = max(out.get(e.feature, 0.0), e.chi2_ndf)
        return out

    def pooled_chi2_ndf_by_feature(self) -> dict[str, float]:
        """Σχ²/Σndf per feature over all points and processes."""
        c: dict[str, list[float]] = {}
        for e in self.entries:
            s = c.setdefault(e.feature, [0.0, 0.0])
            s[0] += e.chi2
            s[1] += e.ndf
        return {k: v[0] / v[1] if v[1] else float("nan") for k, v in c.items()}

    def pooled_chi2_ndf(self) -> dict[tuple[str, str], float]:
        """Σχ²/Σndf over all points, per (process, feature)."""
        c: dict[tuple[str, str], list[float]] = {}
        for e in self.entries:
            s = c.setdefault((e.process, e.feature), [0.0, 0.0])
            s[0] += e.chi2
            s[1] += e.ndf
        return {k: v[0] / v[1] if v[1] else float("nan") for k, v in c.items()}

    @property
    def max_pooled_chi2_ndf(self) -> float:
        """The worst (process, feature) χ²/ndf pooled over the points."""
        vals = [v for v in self.pooled_chi2_ndf().values() if np.isfinite(v)]
        return float(max(vals)) if vals else float("nan")

    @property
    def max_abs_yield_pull(self) -> float:
        """The worst |pull| of the total yields."""
        vals = [abs(y.pull) for y in self.yields if np.isfinite(y.pull)]
        return float(max(vals)) if vals else float("nan")

    @property
    def max_abs_yield_deviation(self) -> float:
        """The worst |predicted/true - 1| of the total yields."""
        return float(max(abs(y.relative_deviation) for y in self.yields))

    def __repr__(self) -> str:
        feats = ", ".join(f"{k} {v:.3f}" for k, v in self.chi2_ndf_by_feature().items())
        return (
            f"ClosureResult({len({e.nu for e in self.entries})} points, pairing={self.pairing!r}: "
            f"max chi2/ndf {self.max_chi2_ndf:.3f}, pooled over points "
            f"{self.max_pooled_chi2_ndf:.3f} (per feature: {feats}); yields: max |dev| "
            f"{100 * self.max_abs_yield_deviation:.3f}%, max |pull| {self.max_abs_yield_pull:.2f})"
        )

    def select(
        self,
        nu: Sequence[float] | None = None,
        process: str | None = None,
        feature: str | None = None,
    ) -> list[ClosureEntry]:
        """Entries matching the given point, process and feature."""
        return [
            e
            for e in self.entries
            if (nu is None or np.allclose(e.nu, nu))
            and (process is None or e.process == process)
            and (feature is None or e.feature == feature)
        ]

    def plot(self, entry: ClosureEntry | int = 0, ax: Any = None) -> list[Any]:
        """Reweighted nominal (line) and varied simulation (points) of one entry, per bin index."""
        import matplotlib.pyplot as plt

        e = self.entries[entry] if isinstance(entry, int) else entry
        ax = ax or plt.gca()
        x = np.arange(len(e.varied))
        artists: list[Any] = []
        artists.append(
            ax.stairs(
                e.reweighted, np.arange(len(x) + 1) - 0.5, label=r"nominal $\times R_p(x|\nu)$"
            )
        )
        artists.append(
            ax.errorbar(
                x, e.varied, yerr=np.sqrt(e.variance), marker="o", ls="", label="varied simulation"
            )
        )
        ax.set_xlabel(f"{e.feature} (quantile bin)")
        ax.set_ylabel("weighted events")
        nu = ", ".join(f"{n}={v:g}" for n, v in zip(self.nuisance_names, e.nu, strict=True))
        ax.set_title(f"{e.process} at {nu}: chi2/ndf {e.chi2_ndf:.2f}")
        ax.legend()
        return artists


def _score(model: Any, events: EventSet) -> FloatArray:
    return np.asarray(model.classifier.fractions(events)[:, 0])


def _feature_values(model: Any, events: EventSet, features: Sequence[str]) -> dict[str, FloatArray]:
    out = {}
    plain = [f for f in features if f != CLASSIFIER_SCORE]
    if plain:
        arr = feature_matrix(events, plain)
        for j, f in enumerate(plain):
            out[f] = arr[:, j]
    if CLASSIFIER_SCORE in features:
        out[CLASSIFIER_SCORE] = _score(model, events)
    return out


def _chi2(
    a_bins: npt.NDArray[np.int64], a_w: FloatArray, a_ids: npt.NDArray[np.int64],
    b_bins: npt.NDArray[np.int64], b_w: FloatArray, b_ids: npt.NDArray[np.int64],
    n_bins: int, paired: bool,
) -> tuple[float, int, FloatArray, FloatArray, FloatArray]:  # fmt: skip
    a = np.bincount(a_bins, weights=a_w, minlength=n_bins).astype(np.float64)
    b = np.bincount(b_bins, weights=b_w, minlength=n_bins).astype(np.float64)
    if paired:
        ids = np.concatenate([a_ids, b_ids])
        bins = np.concatenate([a_bins, b_bins])
        vals = np.concatenate([a_w, -b_w])
        key = ids.astype(np.int64) * n_bins + bins
        uniq, inv = np.unique(key, return_inverse=True)
        per = np.bincount(inv, weights=vals, minlength=len(uniq))
        var = np.bincount(uniq % n_bins, weights=per**2, minlength=n_bins).astype(np.float64)
    else:
        var = (
            np.bincount(a_bins, weights=a_w**2, minlength=n_bins)
            + np.bincount(b_bins, weights=b_w**2, minlength=n_bins)
        ).astype(np.float64)
    ok = var > 0
    chi2 = float(np.sum((a[ok] - b[ok]) ** 2 / var[ok]))
    return chi2, int(ok.sum()), a, b, var


def closure_test(
    model: Any,
    source: VariationSource,
    points: Design | npt.ArrayLike | None = None,
    *,
    features: Sequence[str] | None = None,
    processes: Sequence[str] | None = None,
    n_bins: int = 20,
    pairing: Literal["independent", "paired"] = "independent",
    max_events: int | None = None,
    seed: int = 0,
) -> ClosureResult:
    """Closure of the learned responses at held-out variation points.

    Parameters
    ----------
    model
        A :class:`~unbinned.ml.surrogate.SurrogateModel`.
    source
        Held-out simulation (other events than in training, e.g. another seed).
    points
        Standardised points (default :func:`~unbinned.ml.design.validation_design`).
    features
        Features to histogram (may include :data:`CLASSIFIER_SCORE`); default: m_vis,
        MET, lepton and τ_h pT and the score for challenge data, else every feature
        and the score.
    processes
        Processes to test (default: those with a response).
    n_bins
        Quantile bins (of the varied sample) per feature.
    pairing
        ``"independent"`` or ``"paired"`` (see the module docstring).
    max_events
        Use at most this many generated events per process.
    seed
        Seed of the event split and subsample.
    """
    if pairing not in ("independent", "paired"):
        raise ConfigError(f"pairing={pairing!r}; expected 'independent' or 'paired'")
    names = tuple(model.nuisance_names)
    pts = _closure_points(model, points, names)
    feats = _closure_features(model, features)
    procs = (
        [p for p in model.processes if model.responses[p] is not None]
        if processes is None
        else list(processes)
    )
    rng = np.random.default_rng([int(seed), 31337])
    entries: list[ClosureEntry] = []
    yields: list[YieldEntry] = []
    for p in procs:
        resp = model.responses[p]
        if resp is None:
            raise ConfigError(f"process {p!r} has no learned response to test")
        generated = np.asarray(source.generated_ids(p), dtype=np.int64)
        subset = None
        if max_events is not None and max_events < len(generated):
            subset = np.sort(rng.choice(generated, size=max_events, replace=False))
            generated = subset
        nominal = source.nominal(p, event_ids=subset)
        ids = nominal.extras[EVENT_ID].to_numpy(np.int64)
        # the model's coefficients, with its score calibration when it has one
        delta = model.precompute(nominal).delta[:, list(model.processes).index(p), :]
        nom_vals = _feature_values(model, nominal, feats)
        half_a, frac_a = None, 0.0
        if pairing == "independent":
            in_a = rng.random(len(generated)) < 0.5
            half_a = generated[in_a]
            frac_a = float(in_a.mean())
        nominal_side = _NominalSide(nominal, ids, nom_vals, delta, resp, half_a, frac_a)
        for nu in pts:
            _closure_point(
                model, source, p, nu, subset, nominal_side, feats, n_bins, pairing,
                entries, yields,
            )  # fmt: skip
    return ClosureResult(names, tuple(entries), tuple(yields), pairing, feats)


def _closure_points(
    model: Any, points: Design | npt.ArrayLike | None, names: tuple[str, ...]
) -> Any:
    """The standardised points of :func:`closure_test`, shape (K, d)."""
    if points is None:
        pts = validation_design(model.nuisances).points
    elif isinstance(points, Design):
        pts = points.points
    else:
        pts = np.atleast_2d(np.asarray(points, dtype=np.float64))
    if pts.shape[1] != len(names):
        raise DataError(
            f"points have {pts.shape[1]} columns; expected {len(names)} ({list(names)})"
        )
    return pts


def _closure_features(model: Any, features: Sequence[str] | None) -> tuple[str, ...]:
    """The features :func:`closure_test` histograms (its docstring gives the default)."""
    if features is None:
        feats = tuple(
            f for f in HTAUTAU_CLOSURE_FEATURES if f in model.feature_names or f == CLASSIFIER_SCORE
        )
        if len(feats) < 2:
            feats = (*model.feature_names, CLASSIFIER_SCORE)
    else:
        feats = tuple(features)
    return feats


@dataclass(frozen=True)
class _NominalSide:
    """The nominal events of one process in :func:`closure_test`, reweighted per point."""

    events: EventSet
    ids: npt.NDArray[np.int64]
    values: dict[str, FloatArray]
    delta: FloatArray
    response: Any
    half_a: npt.NDArray[np.int64] | None
    frac_a: float


def _closure_point(
    model: Any,
    source: VariationSource,
    p: str,
    nu: FloatArray,
    subset: npt.NDArray[np.int64] | None,
    nom: _NominalSide,
    feats: tuple[str, ...],
    n_bins: int,
    pairing: str,
    entries: list[ClosureEntry],
    yields: list[YieldEntry],
) -> None:
    """Append the yield and per-feature closure entries of process ``p`` at ``nu``."""
    nominal, ids, nom_vals, half_a, frac_a = nom.events, nom.ids, nom.values, nom.half_a, nom.frac_a
    varied = source.varied(p, nu, event_ids=subset)
    vids = varied.extras[EVENT_ID].to_numpy(np.int64)
    r = np.exp(nom.delta @ monomials(nu) + nom.response.log_yield(nu))
    a_w = nominal.weights * r
    b_w = varied.weights.copy()
    a_mask = np.ones(len(ids), bool)
    b_mask = np.ones(len(vids), bool)
    if half_a is not None:
        a_mask = np.isin(ids, half_a)
        b_mask = ~np.isin(vids, half_a)
        a_w = a_w / frac_a
        b_w = b_w / (1.0 - frac_a)
    var_vals = _feature_values(model, varied, feats)
    pred_total, true_total = float(a_w[a_mask].sum()), float(b_w[b_mask].sum())
    _, _, _, _, yvar = _chi2(
        np.zeros(int(a_mask.sum()), np.int64), a_w[a_mask], ids[a_mask],
        np.zeros(int(b_mask.sum()), np.int64), b_w[b_mask], vids[b_mask],
        1, pairing == "paired",
    )  # fmt: skip
    yields.append(
        YieldEntry(tuple(float(v) for v in nu), p, pred_total, true_total, float(np.sqrt(yvar[0])))
    )
    for f in feats:
        edges = _weighted_quantile_edges(var_vals[f][b_mask], b_w[b_mask], n_bins)
        nb = len(edges) + 1
        a_bins = np.searchsorted(edges, nom_vals[f][a_mask], side="right")
        b_bins = np.searchsorted(edges, var_vals[f][b_mask], side="right")
        chi2, ndf, a, b, var = _chi2(
            a_bins, a_w[a_mask], ids[a_mask], b_bins, b_w[b_mask], vids[b_mask],
            nb, pairing == "paired",
        )  # fmt: skip
        entries.append(ClosureEntry(tuple(float(v) for v in nu), p, f, chi2, ndf, edges, a, b, var))


# ---------------------------------------------------------------------------- oracle
@dataclass(frozen=True, repr=False)
class OracleComparison:
    """Learned vs exact ln R_p(x|ν) (and c_p(x)) on a source with exact answers.

    Attributes
    ----------
    points
        Standardised points compared, shape (K, d).
    rms
        RMS of (learned - exact) ln R_p over the bulk, per (point, process): dict keyed
        by (point index, process).
    logratio_rms
        Overall RMS (the mean squared error pooled over points and processes).
    fractions_rms
        Weighted RMS of the learned minus exact fractions, per process.
    samples
        For plots: per process, (exact, learned) ln R at the last point.
    """

    points: FloatArray
    rms: dict[tuple[int, str], float]
    logratio_rms: float
    fractions_rms: dict[str, float]
    bulk_quantile: float
    samples: dict[str, tuple[FloatArray, FloatArray]] = field(default_factory=dict)

    def rms_by_process(self) -> dict[str, float]:
        """RMS pooled over points, per process."""
        out: dict[str, list[float]] = {}
        for (_, p), v in self.rms.items():
            out.setdefault(p, []).append(v**2)
        return {p: float(np.sqrt(np.mean(v))) for p, v in out.items()}

    def __repr__(self) -> str:
        per = ", ".join(f"{p} {v:.4f}" for p, v in self.rms_by_process().items())
        fr = ", ".join(f"{p} {v:.2g}" for p, v in self.fractions_rms.items())
        return (
            f"OracleComparison({len(self.points)} points: ln R RMS {self.logratio_rms:.4f} "
            f"(per process {per}); fractions RMS {fr})"
        )

    def plot(self, process: str | None = None, ax: Any = None) -> list[Any]:
        """Learned vs exact ln R (scatter) at the last point, with the diagonal."""
        import matplotlib.pyplot as plt

        ax = ax or plt.gca()
        artists: list[Any] = []
        for p, (exact, learned) in self.samples.items():
            if process is not None and p != process:
                continue
            artists.append(ax.scatter(exact, learned, s=2, alpha=0.4, label=p))
        lims = ax.get_xlim()
        artists += ax.plot(lims, lims, color="grey", ls="--", lw=1)
        ax.set_xlabel(r"exact $\ln R_p(x|\nu)$")
        ax.set_ylabel(r"learned $\ln R_p(x|\nu)$")
        ax.legend()
        return artists


def bulk_points(model: Any, n: int = 24, *, radius: float = 2.0, seed: int = 0) -> FloatArray:
    """On-axis ±1, ±2 and ``n`` random points with |ν_a| ≤ radius, within the trained range."""
    rng_box = np.clip(model.trained_range, -radius, radius)
    d = rng_box.shape[0]
    pts = []
    for a in range(d):
        for v in (-2.0, -1.0, 1.0, 2.0):
            p = np.zeros(d)
            p[a] = np.clip(v, rng_box[a, 0], rng_box[a, 1])
            if np.any(p != 0):
                pts.append(p)
    rng = np.random.default_rng(seed)
    pts += list(rng_box[:, 0] + (rng_box[:, 1] - rng_box[:, 0]) * rng.random((n, d)))
    return np.unique(np.array(pts), axis=0)


def oracle_comparison(
    model: Any,
    source: ExactSource,
    points: npt.ArrayLike | None = None,
    *,
    bulk_quantile: float = 0.01,
    max_events: int | None = 20_000,
) -> OracleComparison:
    """RMS of the learned ln R_p against the exact one over the bulk of the data.

    The bulk: nominal events of each process inside the [q, 1 - q] quantiles of every
    feature (q = ``bulk_quantile``).  Points default to :func:`bulk_points` (|ν| ≤ 2).
    """
    pts = bulk_points(model) if points is None else np.atleast_2d(np.asarray(points, np.float64))
    rms: dict[tuple[int, str], float] = {}
    sq: list[float] = []
    samples: dict[str, tuple[FloatArray, FloatArray]] = {}
    for p in model.processes:
        resp = model.responses[p]
        if resp is None:
            continue
        nominal = source.nominal(p)
        if max_events is not None and len(nominal) > max_events:
            nominal = nominal.select(np.arange(max_events))
        x = feature_matrix(nominal, source.feature_names)
        lo = np.quantile(x, bulk_quantile, axis=0)
        hi = np.quantile(x, 1 - bulk_quantile, axis=0)
        bulk = np.all((x >= lo) & (x <= hi), axis=1)
        xb = x[bulk]
        delta = model.precompute(nominal).delta[bulk, list(model.processes).index(p), :]
        for k, nu in enumerate(pts):
            learned = delta @ monomials(nu) + resp.log_yield(nu)
            exact = source.exact_log_ratio(xb, p, nu)
            mse = float(np.mean((learned - exact) ** 2))
            rms[(k, p)] = float(np.sqrt(mse))
            sq.append(mse)
            if k == len(pts) - 1:
                samples[p] = (exact, learned)
    nominal_all = source.nominal()
    if max_events is not None and len(nominal_all) > 4 * max_events:
        nominal_all = nominal_all.select(
            np.random.default_rng(0).choice(len(nominal_all), 4 * max_events, replace=False)
        )
    xa = feature_matrix(nominal_all, source.feature_names)
    learned_f = model.classifier.fractions(nominal_all)
    exact_f = source.exact_fractions(xa)
    w = np.abs(nominal_all.weights)
    fr = {
        q: float(np.sqrt(np.sum(w * (learned_f[:, j] - exact_f[:, j]) ** 2) / w.sum()))
        for j, q in enumerate(model.processes)
    }
    return OracleComparison(pts, rms, float(np.sqrt(np.mean(sq))), fr, bulk_quantile, samples)


__all__ += ["HTAUTAU_CLOSURE_FEATURES", "bulk_points"]
