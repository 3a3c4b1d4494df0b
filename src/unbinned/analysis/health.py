r"""Health checks of a trained analysis's learned densities on independent simulation.

:func:`surrogate_health` compares what an :class:`~unbinned.analysis.AnalysisModel`
*claims* with what independent simulation (events the training never saw, supplied
by the caller; :func:`independent_source` simulates some with a new seed) really
holds, and returns a :class:`HealthReport` whose ``warnings`` name every failed check.
:func:`~unbinned.analysis.train_analysis` and :func:`~unbinned.analysis.build_analysis`
run it last by default (:func:`check_analysis`: which independent events, or why none)
and record it with the analysis, so that every measurement carries its warnings.

Notation: events i of the independent nominal sample with weights w_i (expected
events), true labels y_i = 1 for the signal process, and the learned signal fraction
c_i = c_sig(x_i) (:meth:`AnalysisModel.scored <unbinned.analysis.AnalysisModel.scored>`).

(a) **Fraction closure.**  In B (default 20) bins of equal true signal weight of c,

.. math::

    r_b = \frac{S_b}{k\,C_b}, \qquad S_b = \sum_{i\in b} w_i y_i, \quad
    C_b = \sum_{i\in b} w_i c_i, \quad k = \frac{\sum_i w_i y_i}{\sum_i w_i c_i},

the true signal weight over the claimed one after normalising the totals (k⁻¹, the
classifier's own integral over the true signal yield, is reported as
``claimed_total_ratio``).  A calibrated fraction has r_b = 1.  Monte-Carlo error
σ(r_b) = V_b^{1/2} / (k C_b): the variance the pass rule tests r_b = 1 against is that
of S_b − C_b *if the fractions were right*, not the spread of the observed labels
(which vanishes in a bin whose events are all of one class, or whose c is nearly
constant, however few events it holds).  The events of the bin as a Poisson process
of total weight density Λ(x), of which the fraction c(x) is signal: each class's
weighted sum is compound Poisson, its variance its weight ω times its expected weight
(ω_p = Σ w²/Σ |w| over the class's events in the bin, over the whole sample where the
bin has none), so

.. math::

    \operatorname{Var}(S_b - C_b) = \int_b \Lambda\, c (1-c)\, g, \qquad
    g = \omega_\text{sig} (1-c) + \omega_\text{bkg} c,

and each class's events estimate ∫ Λ (·) by their weight over their fraction,
w_i/c_i (signal) or w_i/(1 − c_i) (background):

.. math::

    V_b = \frac{n_\text{sig} V_\text{sig} + n_\text{bkg} V_\text{bkg}}
               {n_\text{sig} + n_\text{bkg}}, \quad
    V_\text{sig} = \sum_{i\in b,\,y_i=1} |w_i| (1-c_i)\, g_i, \quad
    V_\text{bkg} = \sum_{i\in b,\,y_i=0} |w_i|\, c_i\, g_i

(n: the bin's events of each class).  With unit weights both terms estimate the
binomial Σ c_i (1 − c_i); a bin of n signal events of weight w_s at a constant c has
V_b = n w_s (1 − c)(ω_sig (1 − c) + ω_bkg c) > 0, the variance of the background
that the claim puts beside them.  The normal approximation is rough for a bin with
a handful of events of heavy weight (the default equal-signal bins hold ≥ 1/B of the
signal).  A bin where neither any signal is seen nor any is claimed passes.
``fraction_closure_worst`` = max_b |r_b − 1|.

(b) **Fisher closure.**  The stat-only information on μ at μ = 1 that the unbinned
likelihood claims, ln L = −Σ_p f_p s_p + Σ_i ln Σ_p f_p c_p(x_i) (+ const) with the
signal's f = μ (the expected yield is linear in μ, so only the event terms curve):

.. math::

    I_\text{claimed} = \sum_i w_i c_i^2,

against the information that a fine histogram (``fisher_bins``, default 100 bins of
equal signal, fewer when the sample has under ``MIN_SIGNAL_PER_BIN`` = 50 signal events
per bin: ``fisher_bins_used``) of the same score carries with the true labels, the
binned Poisson likelihood's I = Σ_b s_b² / n_b at μ = 1:

.. math::

    I_\text{true} = \sum_b \frac{S_b^2 - \sum_{i\in b} w_i^2 y_i}{N_b},
    \qquad N_b = \sum_{i\in b} w_i,

(the subtracted term removes the Monte-Carlo bias E[S_b²] = S_b² + Var S_b; the
fluctuations of N_b bias it as well: the Fisher closure of the exact fractions of the
Gaussian toy comes out ≈ 0.94 with 20 signal events per bin, ≈ 0.99 with 50, hence
the minimum).
``fisher_closure`` = I_claimed / I_true; its error propagates the per-event influences
w_i c_i² and w_i (2 ρ_b y_i − ρ_b²), ρ_b = S_b/N_b.  A calibrated score gives 1, up to
the information the finite binning loses: ``fisher_binning_ratio`` =
Σ_i w_i c_i² / Σ_b C_b²/N_b is that part alone (≥ 1 by Cauchy–Schwarz; ≈ 1 for 100
bins), and the pass rule compares the Fisher closure with it.  σ_μ = I^{-1/2}
(``sigma_mu_claimed``, ``sigma_mu_true``) at the sample's luminosity.

(c) **Response closure in the signal-like tail.**  :func:`unbinned.ml.closure_test`
with ``pairing="paired"`` on the events whose c is above the value that leaves the
fraction ``tail_fraction`` of the signal weight above it (every process, at held-out
variation points): nominal events reweighted by the learned R_p(x|ν) against the
same events simulated at ν, in quantile bins of c; ``response_tail_chi2ndf_max`` is
the worst χ²/ndf.

(d) **Learned against exact** (sources with an exact density,
:class:`~unbinned.ml.sources.ExactSource`: the oracle models, the Gaussian toy): the claimed
information over the exact one, Σ w c² / Σ w c_exact², must not exceed 1 (a learned
density cannot carry more information than the exact one), and the weighted RMS of
c − c_exact.

(e) **Response bias of μ** (sources whose events can be varied, with (c)).  With
every nuisance fixed at its true value ν, the score of μ at μ = 1 is
Σ_i π(x_i) − S, π = s/(s + b) the model's signal share of an event; to first order
the learned model shifts μ̂ by

.. math::

    \delta\mu(\nu) = \frac{\sum_p (T_p - M_p)}{I}, \qquad
    T_p = \sum_{i \in p,\ \nu} w_i\,\pi(x_i), \quad
    M_p = \sum_{j,\ 0} w_j\, a_{jp}\, G_p\, \pi(x_j),

with T_p over the process's events simulated at ν and M_p the model's expectation
of the same sum over the same generated events (every process) at nominal: a_jp = c_p(x_j)
R_p(x_j|ν) (:meth:`Likelihood.event_components
<unbinned.likelihood.Likelihood.event_components>`), each process normalised to the
sample's nominal yield of the process and moved by the model's yield response,
G_p = W_p y_p(ν) / (y_p(0) Σ_j w_j a_jp) (W_p = Σ_j w_j over the process's nominal
events; the model's y_p is that of its own luminosity and of all its events, the
sample's may be a part of another), and I = Σ_i w_i π_i² the stat-only
information.  δμ(ν) − δμ(0) is the response's share (at ν = 0 the fractions alone
act); reported in units of the stat-only σ_μ of the model's own data,
σ_μ = (I / f)^{-1/2} with f = Σ_p W_p / Σ_p y_p(0) the sample's nominal yield over the
model's (a sample of another luminosity, or a part of one, has another σ: in the
sample's own σ a 1 M-event check of a 10 fb⁻¹ analysis capped at 200 k events per
process reported a shift of 0.9 σ of the analysis as 0.36 σ), with a Monte-Carlo
error from four folds of the generated events (paired: the same folds at ν and at
0).  Unlike (c)'s χ²/ndf this is in the currency of the measurement: a learned
response whose error is tolerable bin by bin can still move μ̂ by a sizeable part of
its error, and that part does not shrink with luminosity.
``response_mu_bias_max`` = max over the points of (c) of |δμ(ν) − δμ(0)| / σ_μ.

Pass rule (every check): a number fails only when it is outside its tolerance *and*
further from its target than ``n_sigma`` (3) of its Monte-Carlo errors, so that a small
independent sample does not cry wolf: a fraction bin fails when
|r_b − 1| > max(``tolerance``, 3 σ(r_b)); the Fisher closure when
|fisher_closure / fisher_binning_ratio − 1| > max(``tolerance``, 3 σ /
fisher_binning_ratio); the exact-information ratio when
ratio − 1 > max(``tolerance``, 3 σ); a tail-closure entry when χ²/ndf >
``max_chi2_ndf`` (2) and its χ² p-value is below 0.01 / (number of entries); a point
of (e) when |δμ(ν) − δμ(0)| / σ_μ > max(``mu_bias_tolerance`` (0.2), 3 errors).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt
from scipy import stats
from tqdm.auto import tqdm

from unbinned.binned.histograms import make_edges
from unbinned.data.events import EventSet
from unbinned.exceptions import ConfigError, DataError
from unbinned.ml.design import ShapeNuisance, validation_design
from unbinned.ml.diagnostics import CLASSIFIER_SCORE, closure_test
from unbinned.ml.sources import (
    EVENT_ID,
    ExactSource,
    GaussianToySource,
    HTauTauSource,
    OracleSource,
    Region,
    VariationSource,
)
from unbinned.sim.htautau import simulate

if TYPE_CHECKING:
    from unbinned.analysis.model import AnalysisModel
    from unbinned.likelihood import Likelihood

__all__ = [
    "FractionBins",
    "HealthOptions",
    "HealthReport",
    "can_simulate",
    "check_analysis",
    "checks_elsewhere",
    "independent_source",
    "surrogate_health",
]

FloatArray = npt.NDArray[np.float64]
MIN_SIGNAL_PER_BIN = 50
MAX_HEALTH_EVENTS = 1_000_000
"""The most generated events per process the default fresh simulation of the check has."""
HEALTH_SEED = 918_273_645
"""Offset of the analysis's seed that seeds the health check's fresh simulation."""
"""Fewest simulated signal events per bin of the Fisher closure's true-label histogram."""


@dataclass(frozen=True)
class HealthOptions:
    """Settings of :func:`surrogate_health` (module docstring: what each check does).

    Parameters
    ----------
    bins
        Equal-signal bins of the fraction closure (a).
    fisher_bins
        Equal-signal bins of the true-label histogram of the Fisher closure (b), at
        most; fewer where the sample has under ``MIN_SIGNAL_PER_BIN`` signal events per
        bin.
    tolerance
        Allowed |ratio − 1| of (a), (b) and (d).
    n_sigma
        A check fails only beyond this many Monte-Carlo errors as well.
    tail_fraction
        The signal-like tail of (c) holds this fraction of the signal weight.
    tail_bins
        Quantile bins of c in the tail for (c).
    max_chi2_ndf
        Allowed χ²/ndf of (c).
    mu_bias_tolerance
        Allowed |δμ(ν) − δμ(0)| of (e), in units of the sample's stat-only σ_μ.
    response
        Run (c) (needs a source whose events can be varied).
    max_events
        At most this many generated events per process enter (c) (None: all).
    points
        Standardised variation points of (c) (rows of ν); default: per nuisance and
        side the on-axis point of :func:`~unbinned.ml.validation_design` with the
        largest |ν| ≤ 2 (held out of the training design).
    enabled
        :func:`~unbinned.analysis.train_analysis` and
        :func:`~unbinned.analysis.build_analysis` run the checks (False: they record
        that the check was switched off, :func:`check_analysis`).
    sample
        Which independent events those entry points check on (:func:`check_analysis`):
        ``"auto"`` (default): the given ``health_source``, else a fresh simulation of
        the reference's kind (:func:`independent_source`) when it can simulate (an
        :class:`~unbinned.ml.HTauTauSource` only when the built-in simulator made its
        events, :func:`can_simulate`), else the reference when it is independent of
        the training (``train_analysis`` with a separate reference and no calibration
        fitted to it), else none (recorded);
        ``"simulation"``: a fresh simulation (an error when the reference cannot
        simulate); ``"reference"``: the reference sample (the caller vouches that
        neither the training nor a calibration saw it, e.g. real challenge data,
        which the built-in simulator does not reproduce).
    events_per_process
        Generated events per process of that fresh simulation (None: as many as the
        reference's largest process, so that the check's cost scales with the
        analysis, at most ``MAX_HEALTH_EVENTS`` = 1 M: on the H→ττ simulator about a
        minute on one core and 3.6 GB, BENCHMARKS.md).
    seed
        Seed of that fresh simulation (None: the analysis's seed + ``HEALTH_SEED``).
    """

    bins: int = 20
    fisher_bins: int = 100
    tolerance: float = 0.05
    n_sigma: float = 3.0
    tail_fraction: float = 0.25
    tail_bins: int = 5
    max_chi2_ndf: float = 2.0
    mu_bias_tolerance: float = 0.2
    response: bool = True
    max_events: int | None = 200_000
    points: tuple[tuple[float, ...], ...] | None = None
    enabled: bool = True
    sample: Literal["auto", "simulation", "reference"] = "auto"
    events_per_process: int | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.sample not in ("auto", "simulation", "reference"):
            raise ConfigError(
                f"HealthOptions.sample={self.sample!r}; expected 'auto', 'simulation' or "
                "'reference'"
            )
        n = self.events_per_process
        if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 10):
            raise ConfigError(
                f"HealthOptions.events_per_process={n!r}; expected an integer ≥ 10 or None"
            )
        if self.seed is not None and (not isinstance(self.seed, int) or self.seed < 0):
            raise ConfigError(f"HealthOptions.seed={self.seed!r}; expected an integer ≥ 0")
        for name in ("bins", "fisher_bins", "tail_bins"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 2:
                raise ConfigError(f"HealthOptions.{name}={v!r}; expected an integer ≥ 2")
        for name in ("tolerance", "n_sigma", "max_chi2_ndf", "mu_bias_tolerance"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
                raise ConfigError(f"HealthOptions.{name}={v!r}; expected a positive number")
        if not 0.0 < self.tail_fraction < 1.0:
            raise ConfigError(
                f"HealthOptions.tail_fraction={self.tail_fraction!r}; expected in (0, 1)"
            )
        if self.max_events is not None and self.max_events < 10:
            raise ConfigError(f"HealthOptions.max_events={self.max_events!r}; expected ≥ 10")


@dataclass(frozen=True, repr=False)
class FractionBins:
    """The per-bin numbers of the fraction closure (a), arrays of shape (B,).

    Attributes
    ----------
    edges
        Bin edges of c_sig (B + 1).
    true, claimed
        S_b and the normalised claim k C_b.
    ratio, error
        r_b and σ(r_b).
    events
        Simulated events per bin (all processes).
    failed
        Bins that fail the pass rule.
    """

    edges: FloatArray
    true: FloatArray
    claimed: FloatArray
    ratio: FloatArray
    error: FloatArray
    events: npt.NDArray[np.int64]
    failed: npt.NDArray[np.bool_]

    def to_dict(self) -> dict[str, list[Any]]:
        """Plain lists (JSON-ready)."""
        return {k: np.asarray(getattr(self, k)).tolist() for k in (
            "edges", "true", "claimed", "ratio", "error", "events", "failed")}  # fmt: skip


@dataclass(frozen=True, repr=False)
class HealthReport:
    """The result of :func:`surrogate_health` (formulas in the module docstring).

    Attributes
    ----------
    n_events, n_signal_events
        Simulated events of the independent nominal sample (all, signal).
    claimed_total_ratio
        Σ w c_sig over the true signal weight (the classifier's integral).
    fraction
        The per-bin fraction closure.
    fraction_closure_worst
        max_b |r_b − 1|.
    fisher_claimed, fisher_true
        I_claimed = Σ w c², I_true = Σ_b (S_b² − Σ w² y)/N_b.
    fisher_closure, fisher_closure_error
        Their ratio and its Monte-Carlo error.
    fisher_binning_ratio
        Σ w c² / Σ_b C_b²/N_b: the part of the ratio a calibrated score has from binning.
    fisher_bins_used
        Bins of that histogram (``fisher_bins`` or fewer, module docstring).
    response_tail_chi2ndf_max
        Worst χ²/ndf of the paired tail closure (NaN when not run).
    response_tail
        Per entry: process, ν, χ², ndf, p-value (JSON-ready dicts).
    response_mu_bias_max
        (e): max |δμ(ν) − δμ(0)| / σ_μ over the points (NaN when not run).
    response_mu_bias
        Per point: ν, δμ(ν) − δμ(0) in μ and in σ_μ, its error, per process
        (JSON-ready dicts).
    exact_information_ratio, exact_information_error, exact_fraction_rms
        Learned against exact (NaN without an exact source).
    warnings
        One line per failed check; empty when every check passed.
    options
        The settings used.
    sample
        What the independent events were (e.g. ``"independent simulation
        (GaussianToySource, 3000 events per process, seed 918273645)"``; empty when
        the caller did not say).
    """

    n_events: int
    n_signal_events: int
    claimed_total_ratio: float
    fraction: FractionBins
    fraction_closure_worst: float
    fisher_claimed: float
    fisher_true: float
    fisher_closure: float
    fisher_closure_error: float
    fisher_binning_ratio: float
    fisher_bins_used: int
    response_tail_chi2ndf_max: float = math.nan
    response_tail: tuple[dict[str, Any], ...] = ()
    response_mu_bias_max: float = math.nan
    response_mu_bias: tuple[dict[str, Any], ...] = ()
    exact_information_ratio: float = math.nan
    exact_information_error: float = math.nan
    exact_fraction_rms: float = math.nan
    warnings: tuple[str, ...] = ()
    options: HealthOptions = field(default_factory=HealthOptions)
    sample: str = ""

    @property
    def passed(self) -> bool:
        """Every check passed (no warnings)."""
        return not self.warnings

    @property
    def sigma_mu_claimed(self) -> float:
        """Stat-only σ_μ the likelihood claims, I_claimed^{-1/2}."""
        return 1.0 / math.sqrt(self.fisher_claimed) if self.fisher_claimed > 0 else math.nan

    @property
    def sigma_mu_true(self) -> float:
        """Stat-only σ_μ the score really gives (true labels, fine histogram)."""
        return 1.0 / math.sqrt(self.fisher_true) if self.fisher_true > 0 else math.nan

    def to_dict(self) -> dict[str, Any]:
        """Plain numbers (JSON-ready; NaN as None), the per-bin numbers under ``fraction``."""

        def num(x: float) -> float | None:
            return float(x) if math.isfinite(x) else None

        return {
            "passed": self.passed,
            "warnings": list(self.warnings),
            "sample": self.sample,
            "n_events": self.n_events,
            "n_signal_events": self.n_signal_events,
            "claimed_total_ratio": num(self.claimed_total_ratio),
            "fraction_closure_worst": num(self.fraction_closure_worst),
            "fisher_closure": num(self.fisher_closure),
            "fisher_closure_error": num(self.fisher_closure_error),
            "fisher_binning_ratio": num(self.fisher_binning_ratio),
            "fisher_bins_used": self.fisher_bins_used,
            "fisher_claimed": num(self.fisher_claimed),
            "fisher_true": num(self.fisher_true),
            "sigma_mu_claimed": num(self.sigma_mu_claimed),
            "sigma_mu_true": num(self.sigma_mu_true),
            "response_tail_chi2ndf_max": num(self.response_tail_chi2ndf_max),
            "response_tail": [dict(e) for e in self.response_tail],
            "response_mu_bias_max": num(self.response_mu_bias_max),
            "response_mu_bias": [dict(e) for e in self.response_mu_bias],
            "exact_information_ratio": num(self.exact_information_ratio),
            "exact_information_error": num(self.exact_information_error),
            "exact_fraction_rms": num(self.exact_fraction_rms),
            "fraction": self.fraction.to_dict(),
            "options": {k: (list(map(list, v)) if k == "points" and v is not None else v)
                        for k, v in asdict(self.options).items()},
        }  # fmt: skip

    def __repr__(self) -> str:
        f = self.fraction
        lines = [
            f"HealthReport({'passed' if self.passed else 'FAILED'}; {self.n_events} independent "
            f"events, {self.n_signal_events} signal)",
            *([f"  sample: {self.sample}"] if self.sample else []),
            f"  fraction closure: worst |true/claimed - 1| {self.fraction_closure_worst:.3f} "
            f"over {len(f.ratio)} equal-signal bins (top bin {f.ratio[-1]:.3f} ± "
            f"{f.error[-1]:.3f}); claimed/true signal total {self.claimed_total_ratio:.4f}",
            f"  Fisher closure: claimed/true {self.fisher_closure:.3f} ± "
            f"{self.fisher_closure_error:.3f} (binning alone {self.fisher_binning_ratio:.3f}, "
            f"{self.fisher_bins_used} bins); "
            f"stat-only σ_μ claimed {self.sigma_mu_claimed:.4g}, true {self.sigma_mu_true:.4g}",
        ]
        if self.response_tail:
            lines.append(
                f"  response closure in the tail: worst χ²/ndf {self.response_tail_chi2ndf_max:.3f}"
                f" over {len(self.response_tail)} entries"
            )
        if self.response_mu_bias:
            lines.append(
                f"  response bias of μ: worst |δ| {self.response_mu_bias_max:.2f}"
                f" σ_stat over {len(self.response_mu_bias)} points"
            )
        if math.isfinite(self.exact_information_ratio):
            lines.append(
                f"  against the exact density: information ratio {self.exact_information_ratio:.3f}"
                f" ± {self.exact_information_error:.3f}, fraction RMS {self.exact_fraction_rms:.3g}"
            )
        lines += [f"  WARNING: {w}" for w in self.warnings]
        return "\n".join(lines)


# ---------------------------------------------------------------------------- checks
def _fails(deviation: float, error: float, options: HealthOptions) -> bool:
    """The pass rule: outside the tolerance and beyond n_sigma Monte-Carlo errors."""
    if not math.isfinite(deviation):
        return True
    return abs(deviation) > max(options.tolerance, options.n_sigma * error)


def _bins(c: FloatArray, w: FloatArray, y: FloatArray, n_bins: int) -> FloatArray:
    """Inner+outer edges of ``n_bins`` equal-signal bins of c on [0, 1]."""
    return make_edges(c, w, method="quantile-signal", n_bins=n_bins, signal=y > 0, range=(0.0, 1.0))


def _index(c: FloatArray, edges: FloatArray) -> npt.NDArray[np.intp]:
    return np.clip(np.searchsorted(edges, c, side="right") - 1, 0, len(edges) - 2)


def _fraction_closure(
    c: FloatArray, w: FloatArray, y: FloatArray, options: HealthOptions
) -> tuple[FractionBins, float]:
    """(a): the per-bin ratios and k⁻¹ (module docstring)."""
    edges = _bins(c, w, y, options.bins)
    b = _index(c, edges)
    nb = len(edges) - 1
    true = np.bincount(b, weights=w * y, minlength=nb).astype(np.float64)
    raw = np.bincount(b, weights=w * c, minlength=nb)
    k = true.sum() / raw.sum()
    claimed = k * raw
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = true / claimed
        error = np.sqrt(_null_variance(c, w, y, b, nb)) / claimed
    events = np.bincount(b, minlength=nb).astype(np.int64)
    # nothing claimed and nothing seen (an empty bin, or fractions of exactly 0) agree
    agree = (true == 0) & (claimed == 0)
    failed = ~agree & np.array(
        [_fails(r - 1.0, e, options) for r, e in zip(ratio, error, strict=True)], dtype=bool
    )
    return FractionBins(edges, true, claimed, ratio, error, events, failed), float(1.0 / k)


def _null_variance(
    c: FloatArray, w: FloatArray, y: FloatArray, b: npt.NDArray[np.intp], nb: int
) -> FloatArray:
    """Per bin, V_b: the variance of S_b − C_b if the fractions were right (module docstring)."""
    aw = np.abs(w)
    sig = y > 0
    omega = []
    for cls in (sig, ~sig):
        num = np.bincount(b[cls], weights=w[cls] ** 2, minlength=nb)
        den = np.bincount(b[cls], weights=aw[cls], minlength=nb)
        # a class the whole sample lacks: its weight scale is the sample's own
        sel = cls if aw[cls].sum() > 0 else np.ones_like(cls)
        overall = float(np.sum(w[sel] ** 2) / np.sum(aw[sel]))
        with np.errstate(divide="ignore", invalid="ignore"):
            omega.append(np.where(den > 0, num / den, overall))
    g = omega[0][b] * (1.0 - c) + omega[1][b] * c
    v_sig = np.bincount(b[sig], weights=(aw * (1.0 - c) * g)[sig], minlength=nb)
    v_bkg = np.bincount(b[~sig], weights=(aw * c * g)[~sig], minlength=nb)
    n_sig = np.bincount(b[sig], minlength=nb)
    n_bkg = np.bincount(b[~sig], minlength=nb)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray((n_sig * v_sig + n_bkg * v_bkg) / (n_sig + n_bkg), dtype=np.float64)


def _fisher_closure(
    c: FloatArray, w: FloatArray, y: FloatArray, options: HealthOptions
) -> tuple[float, float, float, float, float, int]:
    """(b): I_claimed, I_true, their ratio, its error, the binning ratio, the bins."""
    n_bins = min(options.fisher_bins, max(2, int(np.count_nonzero(y)) // MIN_SIGNAL_PER_BIN))
    edges = _bins(c, w, y, n_bins)
    b = _index(c, edges)
    nb = len(edges) - 1
    s = np.bincount(b, weights=w * y, minlength=nb)
    s2 = np.bincount(b, weights=w**2 * y, minlength=nb)
    n = np.bincount(b, weights=w, minlength=nb)
    cw = np.bincount(b, weights=w * c, minlength=nb)
    ok = n > 0
    claimed = float(np.sum(w * c**2))
    true = float(np.sum((s[ok] ** 2 - s2[ok]) / n[ok]))
    binned_claim = float(np.sum(cw[ok] ** 2 / n[ok]))
    rho = np.where(ok, s / np.where(ok, n, 1.0), 0.0)[b]
    infl_true = w * (2.0 * rho * y - rho**2)
    infl = w * c**2 / true - claimed * infl_true / true**2
    ratio = claimed / true if true > 0 else math.nan
    error = float(np.sqrt(np.sum(infl**2)))
    return claimed, true, ratio, error, claimed / binned_claim, nb


def _exact(
    model: AnalysisModel, events: EventSet, c: FloatArray, w: FloatArray, source: ExactSource
) -> tuple[float, float, float]:
    """(d): claimed over exact information, its error, and the RMS of c − c_exact."""
    x = events.feature_array(source.feature_names)
    k = list(source.processes).index(model.signal)
    ce = np.asarray(source.exact_fractions(x))[:, k]
    claimed, exact = float(np.sum(w * c**2)), float(np.sum(w * ce**2))
    infl = w * c**2 / exact - claimed * w * ce**2 / exact**2
    rms = float(np.sqrt(np.sum(np.abs(w) * (c - ce) ** 2) / np.abs(w).sum()))
    return claimed / exact, float(np.sqrt(np.sum(infl**2))), rms


# ---------------------------------------------------------------------------- tail closure
class _TailSource:
    """A variation source restricted to the events whose learned c_sig is ≥ ``threshold``.

    Each event set (nominal or varied) is selected by its own c_sig, so that events
    that migrate into or out of the tail at ν are counted as the analysis counts them.
    """

    def __init__(self, source: VariationSource, classifier: Any, k: int, threshold: float):
        self._source, self._classifier, self._k, self._t = source, classifier, k, threshold

    @property
    def processes(self) -> tuple[str, ...]:
        return tuple(self._source.processes)

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(self._source.feature_names)

    @property
    def nuisances(self) -> tuple[ShapeNuisance, ...]:
        return tuple(self._source.nuisances)

    @property
    def region(self) -> Region:
        return self._source.region

    def generated_ids(self, process: str) -> npt.NDArray[np.int64]:
        return self._source.generated_ids(process)

    def _tail(self, events: EventSet) -> EventSet:
        if len(events) == 0:
            return events
        c = self._classifier.fractions(events)[:, self._k]
        return events.select(c >= self._t)

    def nominal(
        self, process: str | None = None, *, event_ids: npt.ArrayLike | None = None
    ) -> EventSet:
        return self._tail(self._source.nominal(process, event_ids=event_ids))

    def varied(
        self, process: str, nu: npt.ArrayLike, *, event_ids: npt.ArrayLike | None = None
    ) -> EventSet:
        return self._tail(self._source.varied(process, nu, event_ids=event_ids))


class _SignalFirst:
    """The surrogate with its classifier's fractions reordered, the signal's first.

    :func:`~unbinned.ml.closure_test` histograms :data:`~unbinned.ml.diagnostics.CLASSIFIER_SCORE`,
    the *first* process's fraction; the tail closure bins in c_sig whatever the order.
    """

    def __init__(self, surrogate: Any, k: int):
        self._surrogate, self._k = surrogate, k

    def __getattr__(self, name: str) -> Any:
        return getattr(self._surrogate, name)

    @property
    def classifier(self) -> _SignalFirst:
        return self

    def fractions(self, events: Any) -> FloatArray:
        c = np.asarray(self._surrogate.classifier.fractions(events))
        order = [self._k, *(j for j in range(c.shape[1]) if j != self._k)]
        return c[:, order]


def default_points(nuisances: Sequence[ShapeNuisance], reach: float = 2.0) -> FloatArray:
    """Per nuisance and side, the held-out on-axis point with the largest |ν| ≤ ``reach``."""
    pts = validation_design(nuisances).points
    out = []
    for a in range(pts.shape[1]):
        others = np.delete(pts, a, axis=1)
        axis = pts[np.all(others == 0, axis=1) & (pts[:, a] != 0)]
        for sign in (-1.0, 1.0):
            side = axis[(np.sign(axis[:, a]) == sign) & (np.abs(axis[:, a]) <= reach)]
            if len(side):
                out.append(side[np.argmax(np.abs(side[:, a]))])
    return np.array(out, dtype=np.float64).reshape(-1, pts.shape[1])


def _tail_closure(
    model: AnalysisModel, source: VariationSource, threshold: float, options: HealthOptions
) -> tuple[float, tuple[dict[str, Any], ...], list[str]]:
    """(c): the worst χ²/ndf, the entries, and the warnings of the failed ones."""
    sur = model.surrogate
    k = list(sur.processes).index(model.signal)
    tail = _TailSource(source, sur.classifier, k, threshold)
    pts = default_points(sur.nuisances) if options.points is None else np.asarray(options.points)
    result = closure_test(
        _SignalFirst(sur, k), tail, pts, features=[CLASSIFIER_SCORE], n_bins=options.tail_bins,
        pairing="paired", max_events=options.max_events,
    )  # fmt: skip
    entries = [e for e in result.entries if e.ndf]
    limit_p = 0.01 / max(len(entries), 1)
    rows: list[dict[str, Any]] = []
    failed, warnings = [], []
    for e in entries:
        p = float(stats.chi2.sf(e.chi2, e.ndf))
        rows.append({"process": e.process, "nu": list(e.nu), "chi2": e.chi2, "ndf": e.ndf,
                     "chi2_ndf": e.chi2_ndf, "p_value": p})  # fmt: skip
        if e.chi2_ndf > options.max_chi2_ndf and p < limit_p:
            failed.append(e)
    if failed:
        e = max(failed, key=lambda f: f.chi2_ndf)
        at = ", ".join(f"{n}={v:g}" for n, v in zip(result.nuisance_names, e.nu, strict=True))
        warnings.append(
            f"response closure in the signal-like tail: {len(failed)} of {len(entries)} "
            f"(process, point) entries fail; worst {e.process} at ν = ({at}): χ²/ndf "
            f"{e.chi2:.1f}/{e.ndf} = {e.chi2_ndf:.2f} > {options.max_chi2_ndf:g}"
        )
    worst = max((r["chi2_ndf"] for r in rows), default=math.nan)
    return float(worst), tuple(rows), warnings


MU_BIAS_FOLDS = 4
"""Folds of the generated events that give (e)'s Monte-Carlo error."""


def _fold_error(parts: FloatArray) -> float:
    """The Monte-Carlo error of the sum of independent fold estimates."""
    return float(np.sqrt(len(parts)) * np.std(parts, ddof=1))


def _bias_folds(
    model: AnalysisModel,
    nominal: tuple[Likelihood, npt.NDArray[np.int64]],
    varied: tuple[Likelihood, EventSet, npt.NDArray[np.int64]],
    theta: dict[str, float],
    scale: FloatArray,
) -> tuple[FloatArray, dict[str, FloatArray], float]:
    """(e) at one point: per fold Σ_p (T_p − M_p)/I, the same per process, and I.

    ``nominal``: the likelihood of the nominal events and their folds; ``varied``: the
    likelihood of the events at ν, the events, and their folds (built once by the caller:
    each costs a surrogate evaluation of every event).  ``scale``: W_p / y_p(0) per
    process (:func:`_sample_yields`), which puts the model's yields on the sample's.
    """
    procs = list(model.surrogate.processes)
    k = procs.index(model.signal)
    lik_n, fold_n = nominal
    lik, events, fold = varied
    a_n, w_n, y = lik_n.event_components(theta)
    g = scale * y / (w_n @ a_n)  # the sample's nominal yield, moved by the model's response
    b = w_n[:, None] * a_n * g  # the model's expected density on the nominal events
    pi_n = b[:, k] / b.sum(1)
    a, w, _ = lik.event_components(theta)
    ag = a * g
    pi = ag[:, k] / ag.sum(1)
    info = float(w @ pi**2)
    per: dict[str, FloatArray] = {}
    for j, p in enumerate(procs):
        mask = np.asarray(events.process_mask(p), dtype=bool)
        t = np.bincount(fold[mask], weights=w[mask] * pi[mask], minlength=MU_BIAS_FOLDS)
        m = np.bincount(fold_n, weights=b[:, j] * pi_n, minlength=MU_BIAS_FOLDS)
        per[p] = (t - m) / info
    return np.sum(list(per.values()), axis=0), per, info


def _sample_yields(
    model: AnalysisModel, lik: Likelihood, nominal: EventSet, theta: dict[str, float]
) -> tuple[FloatArray, FloatArray]:
    """W_p and y_p(θ₀): the sample's nominal yield of each process and the model's.

    (e) compares them as W_p / y_p.

    The independent sample may be at another luminosity than the model, or a part of
    its generated events (``HealthOptions.max_events``); without this factor the
    model's expected change with ν would be compared at the wrong size with the
    sample's (a spurious shift of δμ(ν) − δμ(0) in proportion to the yield response).
    """
    _, w, y = lik.event_components(theta)
    own = [float(w[np.asarray(nominal.process_mask(p), dtype=bool)].sum())
           for p in model.surrogate.processes]  # fmt: skip
    return np.asarray(own, dtype=np.float64), np.asarray(y, dtype=np.float64)


def _folds(events: EventSet) -> npt.NDArray[np.int64]:
    """The fold of each event of (e), from its generated event id."""
    return events.extras[EVENT_ID].to_numpy(np.int64) % MU_BIAS_FOLDS


def _mu_bias(
    model: AnalysisModel, source: VariationSource, options: HealthOptions
) -> tuple[float, tuple[dict[str, Any], ...], list[str]]:
    """(e): the worst |δμ(ν) − δμ(0)|/σ_μ, the rows, and the warnings (module docstring).

    Skipped (no rows) where it does not apply: an analysis with several regions, a
    source that lacks one of its processes, or nuisances the model does not declare.
    """
    sur = model.surrogate
    spec_names = set(model.spec.parameter_names)
    shape = list(sur.nuisances)
    if (model.layout.several
            or not set(sur.processes) <= set(source.processes)
            or not all(n.name in spec_names for n in shape)):  # fmt: skip
        return math.nan, (), []
    ids = {}
    for p in sur.processes:
        gen = np.asarray(source.generated_ids(p), dtype=np.int64)
        ids[p] = gen if options.max_events is None else gen[: options.max_events]
    nominal = EventSet.concat([source.nominal(p, event_ids=ids[p]) for p in sur.processes])
    base_theta = dict(model.spec.init_values())

    def theta(nu: FloatArray) -> dict[str, float]:
        return base_theta | {n.name: float(n.physical(float(z)))
                             for n, z in zip(shape, nu, strict=True)}  # fmt: skip

    at_nominal = (model.likelihood(nominal), _folds(nominal))
    zero = theta(np.zeros(len(shape)))
    own, yields = _sample_yields(model, at_nominal[0], nominal, zero)
    scale = own / yields
    # σ of the model's own data: the sample's information over its size (module docstring)
    size = float(own.sum() / yields.sum())
    base, base_per, _ = _bias_folds(
        model, at_nominal, (at_nominal[0], nominal, at_nominal[1]), zero, scale
    )
    pts = default_points(shape) if options.points is None else np.asarray(options.points)
    rows: list[dict[str, Any]] = []
    warnings: list[str] = []
    worst = 0.0
    for nu in pts:
        varied = EventSet.concat([source.varied(p, nu, event_ids=ids[p]) for p in sur.processes])
        folds, per, info = _bias_folds(
            model,
            at_nominal,
            (model.likelihood(varied), varied, _folds(varied)),
            theta(nu),
            scale,
        )
        sigma = (info / size) ** -0.5
        shift, err = float((folds - base).sum()), _fold_error(folds - base)
        rows.append({"nu": [float(v) for v in nu], "dmu": shift, "dmu_sigma": shift / sigma,
                     "error_sigma": err / sigma, "sigma_stat": sigma,
                     "sigma_stat_sample": info**-0.5,
                     "processes": {p: float((v - base_per[p]).sum())
                                   for p, v in per.items()}})  # fmt: skip
        worst = max(worst, abs(shift) / sigma)
        if abs(shift) / sigma > max(options.mu_bias_tolerance, options.n_sigma * err / sigma):
            at = ", ".join(f"{n.name}={v:g}σ" for n, v in zip(shape, nu, strict=True))
            top = max(per, key=lambda p: abs(float((per[p] - base_per[p]).sum())))
            warnings.append(
                f"response bias of {model.poi}: at {at} (true values, every nuisance fixed) "
                f"the learned responses shift {model.poi}-hat by {shift:+.3f} = "
                f"{shift / sigma:+.2f} ± {err / sigma:.2f} stat-only σ of the analysis's data "
                f"(mostly {top}; "
                f"tolerance {options.mu_bias_tolerance:g} σ): intervals may under-cover; more "
                f"training events per variation point for {top}'s response reduce it "
                "(max_events_per_point)"
            )
    return worst, tuple(rows), warnings


def _labelled(
    model: AnalysisModel, source: VariationSource | None, events: EventSet | None
) -> tuple[EventSet, npt.NDArray[np.bool_]]:
    """The independent nominal events and their signal mask (one clear error if unusable)."""
    if events is None:
        if source is None:
            raise ConfigError("surrogate_health needs independent events or a source")
        events = source.nominal()
    if model.signal not in events.process_names:
        raise DataError(
            f"the independent events have no process {model.signal!r} (the signal); they have "
            f"{list(events.process_names)}"
        )
    sig = np.asarray(events.process_mask(model.signal), dtype=bool)
    if not sig.any():
        raise DataError(f"the independent events hold no {model.signal!r} (signal) events")
    return events, sig


def _fraction_warnings(fraction: FractionBins, signal: str, options: HealthOptions) -> list[str]:
    """The warning of (a), naming the worst failed bin (empty when every bin passes)."""
    bad = np.flatnonzero(fraction.failed)
    if not bad.size:
        return []
    i = int(bad[np.argmax(np.abs(fraction.ratio[bad] - 1.0))])
    return [
        f"fraction closure: {bad.size} of {len(fraction.ratio)} equal-signal bins of "
        f"c_{signal} fail; worst bin {i + 1} (c in [{fraction.edges[i]:.4g}, "
        f"{fraction.edges[i + 1]:.4g}]): true/claimed signal {fraction.ratio[i]:.3f} ± "
        f"{fraction.error[i]:.3f} (tolerance ±{options.tolerance:g})"
    ]


def _check_nuisances(model: AnalysisModel, source: VariationSource) -> None:
    """The source varies the analysis's shape nuisances, in its order (else one clear error)."""
    mine = [n.name for n in model.surrogate.nuisances]
    theirs = [n.name for n in source.nuisances]
    if theirs != mine:
        raise ConfigError(
            f"the independent source's shape nuisances {theirs} are not the analysis's {mine}; "
            "simulate it with the analysis's nuisances, or pass HealthOptions(response=False)"
        )


# ---------------------------------------------------------------------------- entry points
def surrogate_health(
    model: AnalysisModel,
    source: VariationSource | None = None,
    *,
    events: EventSet | None = None,
    options: HealthOptions | None = None,
    sample: str = "",
    progress: bool = False,
) -> HealthReport:
    """Check the learned densities of ``model`` on independent simulation (module docstring).

    Parameters
    ----------
    model
        The trained analysis.
    source
        Independent simulation (events the training and the calibration never saw) as
        a variation source: its nominal events serve (a), (b) and (d), its varied ones
        (c); an :class:`~unbinned.ml.sources.ExactSource` also gives (d).  See
        :func:`independent_source` for a fresh simulation with a new seed.
    events
        Independent labelled nominal events for (a) and (b) instead of the source's
        (weights = expected events); without a source, (c) and (d) are skipped.
    options
        The checks' settings (:class:`HealthOptions`).
    sample
        What the independent events are, recorded in the report (:attr:`HealthReport.sample`).
    progress
        A progress bar of the checks on stderr.
    """
    opts = HealthOptions() if options is None else options
    signals = tuple(getattr(model, "signals", (model.signal,)))
    if len(signals) > 1:
        raise ConfigError(
            f"surrogate_health checks one signal fraction; the analysis has the signal "
            f"processes {list(signals)}"
        )
    run_tail = source is not None and opts.response and len(model.surrogate.nuisances) > 0
    with tqdm(total=2 + run_tail, desc="surrogate health", disable=not progress,
              leave=False, file=sys.stderr) as bar:  # fmt: skip
        bar.set_postfix_str("independent events")
        events, sig = _labelled(model, source, events)
        bar.update()
        bar.set_postfix_str("fraction and Fisher closure")
        return _checked(model, source, events, sig, opts, sample, run_tail, bar)


def _checked(
    model: AnalysisModel,
    source: VariationSource | None,
    events: EventSet,
    sig: npt.NDArray[np.bool_],
    opts: HealthOptions,
    sample: str,
    run_tail: bool,
    bar: Any,
) -> HealthReport:
    """The checks of :func:`surrogate_health` on its labelled independent events."""
    scored = model.scored(events)
    c, w, y = scored.score, scored.weights, sig.astype(np.float64)
    fraction, total_ratio = _fraction_closure(c, w, y, opts)
    claimed, true, fisher, fisher_err, binning, n_fisher = _fisher_closure(c, w, y, opts)
    warnings = _fraction_warnings(fraction, model.signal, opts)
    if _fails(fisher / binning - 1.0, fisher_err / binning, opts):
        warnings.append(
            f"Fisher closure: the likelihood claims {fisher:.3f} ± {fisher_err:.3f} times the "
            f"information on {model.poi} that the score carries (binning alone "
            f"{binning:.3f}; σ_{model.poi} claimed "
            f"{claimed**-0.5:.4g}, true {true**-0.5 if true > 0 else math.nan:.4g}); "
            + ("intervals are too narrow" if fisher > 1.0 else "intervals are wider than needed")
        )
    worst = float(np.nanmax(np.abs(fraction.ratio - 1.0)))
    extra: dict[str, Any] = {}
    bar.update()
    if run_tail:
        assert source is not None
        bar.set_postfix_str("response closure in the tail")
        _check_nuisances(model, source)
        threshold = float(
            np.quantile(c[sig], 1.0 - opts.tail_fraction, weights=np.clip(w[sig], 0, None),
                        method="inverted_cdf")
        )  # fmt: skip
        chi2_max, rows, tail_warnings = _tail_closure(model, source, threshold, opts)
        extra.update(response_tail_chi2ndf_max=chi2_max, response_tail=rows)
        warnings += tail_warnings
        bias_max, bias_rows, bias_warnings = _mu_bias(model, source, opts)
        if bias_rows:
            extra.update(response_mu_bias_max=bias_max, response_mu_bias=bias_rows)
        warnings += bias_warnings
        bar.update()
    if isinstance(source, ExactSource):
        ratio, err, rms = _exact(model, events, c, w, source)
        extra.update(exact_information_ratio=ratio, exact_information_error=err,
                     exact_fraction_rms=rms)  # fmt: skip
        if ratio - 1.0 > max(opts.tolerance, opts.n_sigma * err):
            warnings.append(
                f"the learned density claims {ratio:.3f} ± {err:.3f} times the information of "
                "the exact density (at most 1 is possible)"
            )
    return HealthReport(
        n_events=len(events), n_signal_events=int(sig.sum()), claimed_total_ratio=total_ratio,
        fraction=fraction, fraction_closure_worst=worst, fisher_claimed=claimed,
        fisher_true=true, fisher_closure=fisher, fisher_closure_error=fisher_err,
        fisher_binning_ratio=binning, fisher_bins_used=n_fisher, warnings=tuple(warnings),
        options=opts, sample=sample, **extra,
    )  # fmt: skip


def independent_source(
    like: VariationSource,
    events_per_process: int,
    *,
    seed: int,
    luminosity: float | None = None,
    progress: bool = False,
) -> VariationSource:
    """A fresh simulation of the same kind as ``like`` with another ``seed``.

    For an :class:`~unbinned.ml.HTauTauSource` whose events the built-in simulator
    made (its :attr:`~unbinned.ml.HTauTauSource.simulation` record, with the default
    :class:`~unbinned.sim.htautau.SimulationConfig`),
    :func:`unbinned.sim.htautau.simulate` (``events_per_process`` raw events of each of
    its processes at ``luminosity`` fb⁻¹, default the record's); for an
    :class:`~unbinned.ml.OracleSource` and a :class:`~unbinned.ml.GaussianToySource`,
    the same model drawn again.  Any other source cannot simulate
    (:func:`can_simulate`), among them an ``HTauTauSource`` of real challenge data or
    of files (the simulator's physics is not theirs): give its independent events to
    :func:`surrogate_health`.  ``progress``: the simulator's progress bars.
    """
    if not can_simulate(like):
        raise ConfigError(
            f"{type(like).__name__} cannot simulate new events: {_not_simulable(like)}; pass "
            "independent events (surrogate_health(model, source_of_independent_events))"
        )
    if isinstance(like, HTauTauSource):
        record = like.simulation or {}
        lumi = float(record.get("luminosity", 10.0)) if luminosity is None else luminosity
        frame = simulate(events_per_process, seed=seed, luminosity=lumi,
                         processes=like.processes, progress=progress)  # fmt: skip
        return HTauTauSource(frame, nuisances=like.nuisances, processes=like.processes,
                             feature_names=like.feature_names, seed=seed)  # fmt: skip
    if isinstance(like, OracleSource):
        names = [n.name for n in like.nuisances]
        return OracleSource(like.model, events_per_process, nuisances=names, seed=seed,
                            mode=like.mode)  # fmt: skip
    assert isinstance(like, GaussianToySource)  # a subclass (other processes) drawn as such
    return type(like)(events_per_process, seed=seed)


def can_simulate(source: VariationSource) -> bool:
    """Whether :func:`independent_source` can simulate new events like ``source``'s."""
    if isinstance(source, HTauTauSource):
        record = source.simulation
        return (
            record is not None
            and record.get("name") == "unbinned.sim.htautau"
            and record.get("default_config") is True
        )
    return isinstance(source, OracleSource | GaussianToySource)


def _not_simulable(source: VariationSource) -> str:
    """Why :func:`can_simulate` says no, in words."""
    if not isinstance(source, HTauTauSource):
        return "it is no simulator (e.g. the user's files)"
    if source.simulation is None:
        return (
            "its events are not the built-in simulator's (real challenge data or files: "
            "unbinned.sim.htautau.simulate would check the model against other physics)"
        )
    return "its events were simulated with a SimulationConfig other than the default"


def _simulates_afresh(reference: VariationSource, opts: HealthOptions) -> bool:
    """Whether :func:`check_analysis` checks on a fresh simulation like ``reference``."""
    return opts.sample != "reference" and can_simulate(reference)


def checks_elsewhere(
    reference: VariationSource,
    options: HealthOptions | None = None,
    health_source: VariationSource | None = None,
) -> bool:
    """Whether :func:`check_analysis` checks on events other than ``reference`` (or not at all).

    ``CalibrationOptions(recalibrate_classifier="auto")`` calibrates on an independent
    reference only then: calibrated on, the reference is no honest check of it.
    """
    opts = HealthOptions() if options is None else options
    return not opts.enabled or health_source is not None or _simulates_afresh(reference, opts)


def check_analysis(
    model: AnalysisModel,
    reference: VariationSource,
    *,
    options: HealthOptions | None = None,
    health_source: VariationSource | None = None,
    reference_independent: bool = False,
    seed: int = 0,
    progress: bool = False,
) -> AnalysisModel:
    """``model`` with its health report recorded, or the reason none was run.

    What :func:`~unbinned.analysis.train_analysis` and
    :func:`~unbinned.analysis.build_analysis` do last.  The independent events
    (``options.sample``, :class:`HealthOptions`): ``health_source`` when given; else
    a fresh simulation like ``reference`` (:func:`independent_source`,
    ``options.events_per_process`` events per process, seed ``options.seed`` or
    ``seed + HEALTH_SEED``) when it can simulate (:func:`can_simulate`: not an
    :class:`~unbinned.ml.HTauTauSource` of real challenge data or files); else
    ``reference`` itself when
    ``reference_independent`` (the caller knows that neither the training nor a
    calibration saw it); else none.  The report's failed checks become the
    ``warnings`` of every measurement of the returned model
    (:meth:`AnalysisModel.with_health <unbinned.analysis.AnalysisModel.with_health>`);
    a check not run is recorded with its reason, a ``note`` of every measurement
    (:meth:`AnalysisModel.with_health_skipped
    <unbinned.analysis.AnalysisModel.with_health_skipped>`).
    """
    opts = HealthOptions() if options is None else options
    if not opts.enabled:
        return model.with_health_skipped("switched off (HealthOptions(enabled=False))", opts)
    if len(model.signals) > 1:
        return model.with_health_skipped(
            f"the checks score one signal fraction; this analysis has {len(model.signals)} "
            f"signal processes {list(model.signals)}",
            opts,
        )
    source = health_source
    given = f"the given independent source ({type(source).__name__})"
    sample = "" if source is None else str(getattr(source, "description", given))
    if source is None and _simulates_afresh(reference, opts):
        n = opts.events_per_process or min(MAX_HEALTH_EVENTS, max(
            len(reference.generated_ids(p)) for p in reference.processes))  # fmt: skip
        s = seed + HEALTH_SEED if opts.seed is None else opts.seed
        source = independent_source(reference, n, seed=s, progress=progress)
        sample = (f"independent simulation ({type(reference).__name__}, {n} generated events "
                  f"per process, seed {s})")  # fmt: skip
    elif source is None and opts.sample == "simulation":
        raise ConfigError(
            f"HealthOptions(sample='simulation'): the reference ({type(reference).__name__}) "
            f"cannot simulate new events: {_not_simulable(reference)}; give health_source= or "
            "use sample='auto' or 'reference'"
        )
    elif source is None and (reference_independent or opts.sample == "reference"):
        source, sample = reference, "the reference sample (independent of the training)"
    if source is None:
        return model.with_health_skipped(
            f"no independent sample: the reference ({type(reference).__name__}) cannot "
            f"simulate new events ({_not_simulable(reference)}) and is not known to be "
            "independent of the training; give "
            "health_source= (events neither the training nor a calibration saw) or "
            "HealthOptions(sample='reference')",
            opts,
        )
    report = surrogate_health(model, source, options=opts, sample=sample, progress=progress)
    return model.with_health(report)
