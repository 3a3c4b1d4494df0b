r"""The score of the FAIR Universe HiggsML Uncertainty Challenge.

For N pseudo-experiments with true signal strengths :math:`μ_i` and 68 %
intervals :math:`[p_{16,i}, p_{84,i}]`:

.. math::

    w = \frac{1}{N}\sum_i |p_{84,i} - p_{16,i}|, \qquad
    c = \frac{1}{N}\sum_i \mathbb{1}[p_{16,i} \le μ_i \le p_{84,i}],

    σ_{68} = \sqrt{0.6827\,(1 - 0.6827) / N},

    f(c) = \begin{cases}
        1 + \left|\dfrac{c - (0.6827 - 2σ_{68})}{σ_{68}}\right|^4 & c < 0.6827 - 2σ_{68} \\
        1 & 0.6827 - 2σ_{68} \le c \le 0.6827 + 2σ_{68} \\
        1 + \left|\dfrac{c - (0.6827 + 2σ_{68})}{σ_{68}}\right|^3 & c > 0.6827 + 2σ_{68}
    \end{cases}

    \mathrm{score} = -\ln\big((w + ε)\, f(c)\big), \qquad ε = 10^{-3}.

Higher is better: narrow intervals score well, as long as their coverage stays
within two binomial standard deviations of 68.27 %; under-coverage is punished
harder (fourth power) than over-coverage (third power).

Source: the challenge's scoring program, ``Scoring.Quantiles_Score`` in
``scoring_program/score.py`` of https://github.com/FAIR-Universe/HEP-Challenge
(checked against it: the nominal coverage there is 0.6827, ε = 1e-3, the window
edges belong to the window, N is the number of pseudo-experiments scored
together); the prose in the challenge's ``pages/evaluation.md`` rounds 0.6827 to
0.68.  Reference: W. Bhimji et al., "FAIR Universe HiggsML Uncertainty
Challenge Competition", arXiv:2410.02867.

Unlike the scoring program, which takes ``|p84 - p16|``, intervals with
``p16 > p84`` are rejected here (they are a bug upstream, not a narrow interval);
for every accepted input the numbers are the same.

The score lives in :mod:`unbinned.infer` because toy studies
(:meth:`unbinned.infer.toys.ToyStudy.summary`) report it;
:mod:`unbinned.challenge.score` re-exports it with the challenge's model interface.

Examples
--------
>>> from unbinned.infer.score import challenge_score
>>> r = challenge_score([1.0, 1.0, 1.0], [0.8, 0.9, 1.1], [1.2, 1.1, 1.3])
>>> r.coverage, round(r.mean_width, 6)
(0.6666666666666666, 0.266667)
>>> r.f_c
1.0
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from unbinned.exceptions import DataError

__all__ = [
    "EPSILON",
    "NOMINAL_COVERAGE",
    "ScoreResult",
    "challenge_score",
    "coverage_penalty",
    "coverage_window",
]

NOMINAL_COVERAGE = 0.6827
"""The target coverage of a 68 % interval, as in the challenge's scoring program."""

EPSILON = 1e-3
"""The regulator added to the mean width before the logarithm."""


def _check_n(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(
            f"the number of pseudo-experiments must be an integer, got {n!r} ({type(n).__name__})"
        )
    if n < 1:
        raise DataError(f"the number of pseudo-experiments must be at least 1, got {n}")
    return int(n)


def coverage_window(n: int) -> tuple[float, float]:
    """The coverage window 0.6827 ± 2σ68 of ``n`` pseudo-experiments.

    Parameters
    ----------
    n
        Number of pseudo-experiments (σ68 = sqrt(0.6827 (1 - 0.6827) / n)).

    Returns
    -------
    tuple of float
        ``(lower, upper)``; a coverage inside it (edges included) is not penalised.
    """
    n = _check_n(n)
    s68 = math.sqrt(NOMINAL_COVERAGE * (1.0 - NOMINAL_COVERAGE) / n)
    return NOMINAL_COVERAGE - 2.0 * s68, NOMINAL_COVERAGE + 2.0 * s68


def coverage_penalty(c: float, n: int) -> float:
    """The challenge's coverage factor f(c) ≥ 1 for coverage ``c`` of ``n`` pseudo-experiments.

    f(c) = 1 inside the window 0.6827 ± 2σ68, 1 + |(c - lower)/σ68|⁴ below it and
    1 + |(c - upper)/σ68|³ above it, with σ68 = sqrt(0.6827 (1 - 0.6827) / n).

    Parameters
    ----------
    c
        Observed coverage, a fraction in [0, 1].
    n
        Number of pseudo-experiments the coverage was measured on.

    Returns
    -------
    float
        f(c).

    Examples
    --------
    >>> coverage_penalty(0.6827, 100)
    1.0
    >>> round(coverage_penalty(0.5, 100), 4)
    14.7443
    """
    n = _check_n(n)
    if isinstance(c, bool) or not isinstance(c, numbers.Real):
        raise TypeError(f"coverage must be a real number, got {c!r} ({type(c).__name__})")
    c = float(c)
    if not 0.0 <= c <= 1.0:
        raise DataError(f"coverage must be a fraction in [0, 1], got {c}")
    s68 = math.sqrt(NOMINAL_COVERAGE * (1.0 - NOMINAL_COVERAGE) / n)
    lower, upper = NOMINAL_COVERAGE - 2.0 * s68, NOMINAL_COVERAGE + 2.0 * s68
    if c < lower:
        return 1.0 + abs((c - lower) / s68) ** 4
    if c > upper:
        return 1.0 + abs((c - upper) / s68) ** 3
    return 1.0


@dataclass(frozen=True)
class ScoreResult:
    """The challenge score of a set of intervals and the numbers it is made of.

    Attributes
    ----------
    score
        -ln((w + 1e-3) f(c)); higher is better.
    mean_width
        w, the mean interval width p84 - p16.
    coverage
        c, the fraction of intervals containing the true value (edges included).
    f_c
        The coverage factor f(c) (1 inside the window).
    n
        Number of pseudo-experiments.
    window
        The coverage window (0.6827 - 2σ68, 0.6827 + 2σ68).
    """

    score: float
    mean_width: float
    coverage: float
    f_c: float
    n: int
    window: tuple[float, float]

    @property
    def in_window(self) -> bool:
        """Whether the coverage lies in the window (no penalty)."""
        return self.window[0] <= self.coverage <= self.window[1]

    def __repr__(self) -> str:
        lo, hi = self.window
        where = "inside" if self.in_window else ("below" if self.coverage < lo else "above")
        return (
            f"ScoreResult(score = {self.score:.4f}: mean width {self.mean_width:.4g}, "
            f"coverage {self.coverage:.4f} ({where} window [{lo:.4f}, {hi:.4f}], "
            f"N = {self.n}), f(c) = {self.f_c:.4g})"
        )

    def _repr_html_(self) -> str:
        lo, hi = self.window
        colour = "#c8f0c8" if self.in_window else "#f0e0c0"
        return (
            f"<table><tr><th colspan=2 style='background:{colour}'>challenge score "
            f"{self.score:.4f}</th></tr>"
            f"<tr><td>mean width w</td><td>{self.mean_width:.4g}</td></tr>"
            f"<tr><td>coverage c</td><td>{self.coverage:.4f}</td></tr>"
            f"<tr><td>window</td><td>[{lo:.4f}, {hi:.4f}]</td></tr>"
            f"<tr><td>f(c)</td><td>{self.f_c:.4g}</td></tr>"
            f"<tr><td>N</td><td>{self.n}</td></tr></table>"
        )


def _as_1d(name: str, values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be an array of numbers: {exc}") from None
    return arr


def challenge_score(
    mu_true: npt.ArrayLike,
    p16: npt.ArrayLike,
    p84: npt.ArrayLike,
) -> ScoreResult:
    """The FAIR Universe HiggsML Uncertainty Challenge score of N intervals.

    Parameters
    ----------
    mu_true
        True signal strength of each pseudo-experiment (shape ``(N,)``), or one
        number shared by all.
    p16, p84
        Lower and upper ends of the 68 % intervals, shape ``(N,)``.

    Returns
    -------
    ScoreResult
        score = -ln((w + 1e-3) f(c)) with w, c and f(c) as in the module docstring.

    Raises
    ------
    DataError
        Empty or non-finite input, mismatched lengths, or ``p16 > p84``.
    """
    lo = _as_1d("p16", p16)
    hi = _as_1d("p84", p84)
    mu = _as_1d("mu_true", mu_true)
    if lo.ndim != 1 or hi.ndim != 1 or lo.shape != hi.shape:
        raise DataError(
            f"p16 and p84 must be 1-D arrays of the same length, got shapes {lo.shape} and "
            f"{hi.shape}"
        )
    n = lo.size
    if n == 0:
        raise DataError("no intervals to score: p16 and p84 are empty")
    if mu.ndim == 0:
        mu = np.full(n, float(mu))
    if mu.shape != lo.shape:
        raise DataError(
            f"mu_true must be one number or have the shape of p16 {lo.shape}, got {mu.shape}"
        )
    for name, arr in (("mu_true", mu), ("p16", lo), ("p84", hi)):
        bad = np.flatnonzero(~np.isfinite(arr))
        if bad.size:
            raise DataError(
                f"{name} has {bad.size} non-finite value(s) (first at index {bad[0]}: "
                f"{arr[bad[0]]}); score only the pseudo-experiments whose fit succeeded"
            )
    swapped = np.flatnonzero(lo > hi)
    if swapped.size:
        i = swapped[0]
        raise DataError(
            f"{swapped.size} interval(s) have p16 > p84 (first at index {i}: "
            f"[{lo[i]}, {hi[i]}]); pass the lower end as p16 and the upper end as p84"
        )
    width = float(np.mean(hi - lo))
    coverage = float(np.mean((mu >= lo) & (mu <= hi)))
    f_c = coverage_penalty(coverage, n)
    score = -math.log((width + EPSILON) * f_c)
    return ScoreResult(score, width, coverage, f_c, n, coverage_window(n))
