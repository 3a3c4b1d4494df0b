r"""Residual calibration of the learned responses in bins of the classifier's signal score.

A response network :math:`\Delta_p(x)` is trained by a cross-entropy that the bulk
of its process dominates.  Where a background is rare but the signal lives, in the
signal-like tail of the classifier score, its terms can come out too weak: on the
H→ττ simulator the paired closure of Z→ττ (:func:`~unbinned.ml.diagnostics.closure_test`)
showed −1.3 % per σ of tes and −1.0 % per σ of jes in the top 5 % of the score,
8–10 standard deviations of the paired test, the same at ±0.5σ and ±3σ.  The fit
absorbs such an error into μ: μ̂ of pseudo-experiments moved by about 0.3 per σ of
the true tes or jes, and the 68 % intervals under-covered (BENCHMARKS.md).  Those
were (32, 32) networks trained on 150 k events per variation point; (64, 64)
networks trained for 30 epochs on all 300 k events closed within 0.5 % and removed
the effect.  The calibration below is the opt-in safeguard for when a larger
training is not possible (``calibrate=True`` in
:func:`~unbinned.analysis.train_analysis` and :func:`~unbinned.analysis.build_analysis`).

The calibration adds a piecewise-constant term in the signal score
:math:`s(x) = c_\mathrm{sig}(x)` to every process's network output,

.. math::

    \ln R_p(x|\nu) = \ln Y_p(\nu) + \big[\Delta_p(x) + g_{p,b(s(x))}\big]\cdot\varphi(\nu),

fitted to the simulation the responses describe.  At each varied design point
:math:`\nu_k` the nominal events of process p reweighted by
:math:`e^{\Delta_p\cdot\varphi(\nu_k)}` are histogrammed in score bins b
(:math:`H^\mathrm{pred}_{bk}`) next to the same generated events simulated at
:math:`\nu_k` (:math:`H^\mathrm{var}_{bk}`); per bin,
:math:`g_{p,b}` minimises :math:`\sum_k (t_{bk} - g_{p,b}\cdot\varphi(\nu_k))^2/\sigma_{bk}^2` with
:math:`t_{bk} = \ln\frac{H^\mathrm{var}_{bk}/\sum_b H^\mathrm{var}_{bk}}{H^\mathrm{pred}_{bk}/\sum_b
H^\mathrm{pred}_{bk}}` (shape only: the yields stay with :math:`Y_p`) and
:math:`\sigma_{bk}^2` its Poisson variance.  It is a histogram-level correction
with few parameters (bins × monomials per process), fitted on a sample independent
of the networks' training (the reference sample in
:func:`~unbinned.analysis.train_analysis`).  The binned baseline's templates are
the same idea: simulated variations in bins of the score.

The fitted :math:`g_{p,b}` carry the Monte-Carlo error of the calibration sample,
and every measurement made with the same table shares it: it does not average out
over pseudo-experiments, it shifts them all.  On the H→ττ simulator at 25 % of the
challenge luminosity, a calibration on 300 k events per process scattered by
±1–2 % from bin to bin in the signal-like bins of Z→ττ, about the data's own
statistical error there, and moved the bias of μ̂ from −0.05 to −0.17; on 4 M Z→ττ
events (``calibration_events`` of :func:`~unbinned.analysis.build_analysis`) the
corrections were smooth and the bias +0.03 over 1000 pseudo-experiments
(BENCHMARKS.md).  Use a calibration sample much larger than the data in the
signal-like bins.

The same bins can also calibrate the classifier's signal fraction
(histogram-binning calibration, Zadrozny & Elkan, ICML 2001; ``odds=True``): per
bin a factor :math:`k_b` multiplies the signal's odds,
:math:`c_\mathrm{sig} \to k_b c_\mathrm{sig} / (k_b c_\mathrm{sig} + 1 - c_\mathrm{sig})`
(the other fractions scale by the same normalisation), iterated until
:math:`\sum_{i\in b} w_i c_\mathrm{sig}(x_i) = \sum_{i\in b,\,\mathrm{sig}} w_i` on the
nominal sample.  It is off by default: the predicted side of that equation sums the
few, heavy background events of the signal-like bins, so its Monte-Carlo error is
large.  On the H→ττ simulator with 10⁶ events per process, that error was 2–4 % per
bin in the most signal-like bins, as large as the miscalibration it was meant to
remove: fitted on one sample, the calibration was off by 5 % on an independent one.

Both terms are constant in θ per event, so the likelihood keeps its closed-form
gradient and Hessian: only the per-event inputs change
(:meth:`~unbinned.ml.SurrogateModel.precompute` applies them).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt
from tqdm.auto import tqdm

from unbinned.exceptions import ConfigError, DataError, ModelFileError
from unbinned.ml.diagnostics import _weighted_quantile_edges
from unbinned.ml.yields import monomials

__all__ = ["ScoreCalibration", "fit_score_calibration"]

_CHUNK = 200_000
"""Events per chunk of the surrogate's evaluation."""

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class ScoreCalibration:
    """Per-process, per-score-bin corrections g_{p,b} of the response coefficients.

    Attributes
    ----------
    score_process
        The process whose classifier fraction is the score (the signal).
    processes
        Process order of ``table``'s first axis (the surrogate's).
    edges
        Inner bin edges in the score, increasing, shape (B - 1,).
    table
        g_{p,b}, shape (P, B, M); zeros for processes without a response.
    log_odds
        ln k_b, shape (B,): the correction of the signal fraction's odds (zeros: none).
    """

    score_process: str
    processes: tuple[str, ...]
    edges: FloatArray
    table: FloatArray
    log_odds: FloatArray | None = None

    def __post_init__(self) -> None:
        p, b = len(self.processes), len(self.edges) + 1
        if self.score_process not in self.processes:
            raise ConfigError(f"score process {self.score_process!r} not in {self.processes}")
        if self.table.ndim != 3 or self.table.shape[:2] != (p, b):
            raise ConfigError(
                f"calibration table has shape {self.table.shape}; expected ({p}, {b}, M)"
            )
        if self.log_odds is None:
            object.__setattr__(self, "log_odds", np.zeros(b))
        assert self.log_odds is not None
        if self.log_odds.shape != (b,):
            raise ConfigError(f"log_odds has shape {self.log_odds.shape}; expected ({b},)")
        finite = (self.table, self.edges, self.log_odds)
        if not all(np.all(np.isfinite(a)) for a in finite):
            raise ConfigError("calibration edges, table and log_odds must be finite")
        if np.any(np.diff(self.edges) <= 0):
            raise ConfigError("calibration edges must increase strictly")

    @property
    def n_bins(self) -> int:
        """Number of score bins B."""
        return len(self.edges) + 1

    def bins(self, fractions: FloatArray) -> npt.NDArray[np.intp]:
        """The score bin of each event from its classifier fractions (N, P)."""
        s = fractions[:, self.processes.index(self.score_process)]
        return np.searchsorted(self.edges, s, side="right")

    def apply(self, fractions: FloatArray, delta: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Calibrated fractions (N, P) and coefficients Δ_p(x_i) + g_{p,b(x_i)} (N, P, M).

        New arrays; the bins come from the uncalibrated fractions.
        """
        if delta.shape[1:] != (len(self.processes), self.table.shape[2]):
            raise DataError(
                f"delta has shape {delta.shape}; expected (N, {len(self.processes)}, "
                f"{self.table.shape[2]})"
            )
        b = self.bins(fractions)
        return self._fractions(fractions, b), delta + self.table[:, b, :].transpose(1, 0, 2)

    def _fractions(self, fractions: FloatArray, b: npt.NDArray[np.intp]) -> FloatArray:
        assert self.log_odds is not None
        k = np.exp(self.log_odds[b])
        j = self.processes.index(self.score_process)
        out = fractions / (1.0 + (k - 1.0) * fractions[:, j])[:, None]
        out[:, j] *= k
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "score_process": self.score_process,
            "processes": list(self.processes),
            "edges": self.edges.tolist(),
            "table": self.table.tolist(),
            "log_odds": None if self.log_odds is None else self.log_odds.tolist(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScoreCalibration:
        """Inverse of :meth:`to_dict` (a malformed entry raises ModelFileError)."""
        try:
            return cls(
                str(data["score_process"]),
                tuple(str(p) for p in data["processes"]),
                np.asarray(data["edges"], dtype=np.float64).reshape(-1),
                np.asarray(data["table"], dtype=np.float64),
                None
                if data.get("log_odds") is None
                else np.asarray(data["log_odds"], dtype=np.float64).reshape(-1),
            )
        except (KeyError, TypeError, ValueError, ConfigError) as exc:
            raise ModelFileError(f"malformed score calibration: {exc}") from exc

    def __repr__(self) -> str:
        worst = float(np.abs(self.table).max()) if self.table.size else 0.0
        odds = float(np.abs(np.expm1(self.log_odds)).max()) if self.log_odds is not None else 0.0
        return (
            f"ScoreCalibration(score={self.score_process!r}, {self.n_bins} bins, "
            f"processes={list(self.processes)}, max |g| = {worst:.4g}, "
            f"max |k - 1| = {odds:.4g})"
        )


def _edges(
    score: FloatArray, weights: FloatArray, is_signal: npt.NDArray[np.bool_], n: int
) -> FloatArray:
    """Half the edges at quantiles of the signal, half at quantiles of the background."""
    n_sig = (n - 1) // 2
    inner = [
        _weighted_quantile_edges(score[mask], weights[mask], k + 1)
        for mask, k in ((is_signal, n_sig), (~is_signal, n - 1 - n_sig))
        if k >= 1 and mask.any()
    ]
    return np.unique(np.concatenate(inner)) if inner else np.zeros(0)


def _solve(phi: FloatArray, t: FloatArray, var: FloatArray) -> FloatArray:
    """Weighted least squares of t ≈ φ·g per bin; t, var (K, B) → g (B, M)."""
    b = t.shape[1]
    g = np.zeros((b, phi.shape[1]))
    for j in range(b):
        ok = np.isfinite(t[:, j]) & (var[:, j] > 0)
        if ok.sum() < phi.shape[1]:
            continue
        sw = 1.0 / np.sqrt(var[ok, j])
        g[j] = np.linalg.lstsq(phi[ok] * sw[:, None], t[ok, j] * sw, rcond=None)[0]
    return g


def fit_score_calibration(
    surrogate: Any,
    source: Any,
    score_process: str,
    *,
    n_bins: int = 20,
    points: npt.ArrayLike | None = None,
    processes: Sequence[str] | None = None,
    max_events: int | None = 300_000,
    odds: bool = False,
    seed: int = 0,
    progress: bool = True,
) -> ScoreCalibration:
    """Fit the calibration (module docstring) of ``surrogate``'s responses to ``source``.

    Parameters
    ----------
    surrogate
        A trained :class:`~unbinned.ml.SurrogateModel` (its own calibration is ignored).
    source
        Nominal and varied simulation of the same generated events
        (:class:`~unbinned.ml.sources.VariationSource`), best independent of the
        networks' training sample.
    score_process
        The process whose fraction is the score (the signal).
    n_bins
        Score bins: half at quantiles of ``score_process``, half at quantiles of the
        other processes, in the nominal sample.
    points
        Standardised variation points (default: the surrogate's design).
    processes
        Processes to calibrate (default: every one with a response).
    max_events
        Generated events per process used (the same at every point).
    odds
        Also calibrate the signal fraction's odds on the nominal events (needs a
        sample whose background far outnumbers the data in the signal-like bins;
        module docstring).
    seed
        Seed of that subsample.
    progress
        Progress bar on stderr.
    """
    procs = tuple(surrogate.processes)
    if score_process not in procs:
        raise ConfigError(f"score process {score_process!r} is not among {list(procs)}")
    if not isinstance(n_bins, int) or n_bins < 2:
        raise ConfigError(f"n_bins={n_bins!r}; expected an integer >= 2")
    varied_pts = _varied_points(surrogate, points)
    m = surrogate.n_monomials
    phi = monomials(varied_pts)
    chosen = _chosen_processes(surrogate, procs, processes)
    nominal_all = source.nominal()
    if len(nominal_all) == 0:
        raise DataError("the source has no nominal events to calibrate on")
    # the fractions only, in chunks: the (N, P, M) coefficients of a large sample
    # need not exist at once
    fractions = np.concatenate([surrogate.precompute(chunk, calibrated=False).fractions
                                for chunk in nominal_all.chunks(_CHUNK)])  # fmt: skip
    w_all = nominal_all.weights
    is_signal = nominal_all.process_mask(score_process)
    score = fractions[:, procs.index(score_process)]
    edges = _edges(score, w_all, is_signal, n_bins)
    cal = ScoreCalibration(score_process, procs, edges, np.zeros((len(procs), len(edges) + 1, m)))
    log_odds = _fit_odds(cal, fractions, w_all, is_signal) if odds else None
    del nominal_all, fractions, score
    rng = np.random.default_rng([int(seed), 4242])
    table = cal.table.copy()
    bar = tqdm(total=len(chosen) * len(varied_pts), desc="response calibration",
               disable=not progress, file=sys.stderr, leave=False)  # fmt: skip
    for p in chosen:
        j = procs.index(p)
        generated = np.asarray(source.generated_ids(p), dtype=np.int64)
        subset = None
        if max_events is not None and max_events < len(generated):
            subset = np.sort(rng.choice(generated, size=int(max_events), replace=False))
        t, var = _bin_residuals(surrogate, source, cal, p, j, varied_pts, phi, subset, bar)
        table[j] = _solve(phi, t, var)
    bar.close()
    return ScoreCalibration(score_process, procs, edges, table, log_odds)


def _varied_points(surrogate: Any, points: npt.ArrayLike | None) -> FloatArray:
    """The non-nominal points (default: the design's); enough to fix every monomial."""
    pts = np.asarray(surrogate.design.points if points is None else points, dtype=np.float64)
    pts = np.atleast_2d(pts)
    varied_pts = pts[np.any(pts != 0.0, axis=1)]
    m = surrogate.n_monomials
    if len(varied_pts) < m:
        raise ConfigError(f"{len(varied_pts)} varied points cannot determine {m} monomials")
    return varied_pts


def _chosen_processes(
    surrogate: Any, procs: tuple[str, ...], processes: Sequence[str] | None
) -> list[str]:
    """The processes to calibrate: ``processes``, each with a response, or all of those."""
    chosen = [p for p in procs if surrogate.responses[p] is not None]
    if processes is not None:
        unknown = [p for p in processes if p not in chosen]
        if unknown:
            raise ConfigError(f"process(es) {unknown} have no learned response to calibrate")
        chosen = list(processes)
    return chosen


def _bin_residuals(
    surrogate: Any,
    source: Any,
    cal: ScoreCalibration,
    p: str,
    j: int,
    varied_pts: FloatArray,
    phi: FloatArray,
    subset: npt.NDArray[np.int64] | None,
    bar: Any,
) -> tuple[FloatArray, FloatArray]:
    """Per varied point and score bin: ln(varied/reweighted nominal) shares and variances."""
    b = cal.n_bins
    nominal = source.nominal(p, event_ids=subset)
    # in chunks, keeping only this process's coefficients (memory of a large sample)
    parts = [surrogate.precompute(c, calibrated=False) for c in nominal.chunks(_CHUNK)]
    b0 = np.concatenate([cal.bins(t.fractions) for t in parts])
    d0 = np.concatenate([t.delta[:, j, :] for t in parts])
    w0 = nominal.weights
    del parts
    t = np.full((len(varied_pts), b), np.nan)
    var = np.zeros((len(varied_pts), b))
    for k, nu in enumerate(varied_pts):
        ev = source.varied(p, nu, event_ids=subset)
        b1 = np.concatenate([cal.bins(surrogate.precompute(c, calibrated=False).fractions)
                             for c in ev.chunks(_CHUNK)])  # fmt: skip
        wp = w0 * np.exp(d0 @ phi[k])
        hp, hv = np.bincount(b0, wp, b), np.bincount(b1, ev.weights, b)
        if not (hp.sum() > 0 and hv.sum() > 0):
            raise DataError(f"process {p!r} has no weighted events at nu={nu.tolist()}")
        ok = (hp > 0) & (hv > 0)
        t[k, ok] = np.log(hv[ok] / hv.sum()) - np.log(hp[ok] / hp.sum())
        var[k, ok] = (np.bincount(b0, wp**2, b)[ok] / hp[ok] ** 2
                      + np.bincount(b1, ev.weights**2, b)[ok] / hv[ok] ** 2)  # fmt: skip
        bar.update()
    return t, var


def _fit_odds(
    cal: ScoreCalibration,
    fractions: FloatArray,
    weights: FloatArray,
    is_signal: npt.NDArray[np.bool_],
    iterations: int = 5,
) -> FloatArray:
    """ln k_b with Σ_b w c_sig = Σ_b,sig w per bin (fixed-point iteration; module docstring)."""
    b = cal.bins(fractions)
    j = cal.processes.index(cal.score_process)
    observed = np.bincount(b, weights * is_signal, cal.n_bins)
    log_odds = np.zeros(cal.n_bins)
    for _ in range(iterations):
        trial = replace(cal, log_odds=log_odds)
        predicted = np.bincount(b, weights * trial._fractions(fractions, b)[:, j], cal.n_bins)
        ok = (observed > 0) & (predicted > 0)
        log_odds = log_odds + np.where(ok, np.log(np.where(ok, observed / predicted, 1.0)), 0.0)
    return log_odds
