r"""The results of a toy study: its rows (:class:`ToyStudy`) and their statistics.

:meth:`ToyStudy.summary` gives coverage, bias, pulls and the challenge score
(:func:`unbinned.infer.score.challenge_score`) of the valid pseudo-experiments as a
:class:`ToySummary`, whose ``warnings`` flag a coverage or a pull width outside its
statistical window for n valid pseudo-experiments (``WINDOW_SIGMA`` = 3 standard
deviations of the estimate when the intervals are right):

.. math::

    |c - c_0| > 3 \sqrt{c_0 (1 - c_0) / n}, \qquad
    |s_\text{pull} - 1| > 3 / \sqrt{2 (n - 1)},

with c_0 = 0.6827 (binomial) and the standard error of a normal sample's standard
deviation.
"""

from __future__ import annotations

import html
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from unbinned.exceptions import ConfigError
from unbinned.infer.score import NOMINAL_COVERAGE, ScoreResult, challenge_score
from unbinned.infer.toyrows import FLOAT_COLUMNS, rows_frame
from unbinned.infer.toystore import read_store

__all__ = ["WINDOW_SIGMA", "ToyStudy", "ToySummary"]

WINDOW_SIGMA = 3.0
"""Half-width, in standard deviations, of the statistical windows of :attr:`ToySummary.warnings`."""


@dataclass(frozen=True)
class ToySummary:
    """Coverage, bias, pulls and the challenge score of a toy study.

    Only the *valid* pseudo-experiments enter the statistics: no error, ``valid``
    true, finite μ_true, μ̂, p16 ≤ p84.  The others are counted (``n_failed``: the task
    raised; ``n_invalid``: it returned an invalid fit or interval).

    Attributes
    ----------
    n, n_valid, n_failed
        Rows, valid rows, failure rows.
    coverage, coverage_error
        Fraction c of intervals with p16 ≤ μ_true ≤ p84 and its binomial
        uncertainty sqrt(c (1 - c) / n_valid).
    mean_width, median_width
        Of p84 - p16.
    bias, bias_error
        Mean of μ̂ - μ_true and its standard error.
    pull_mean, pull_mean_error, pull_width, pull_width_error
        Mean and standard deviation of the pulls (μ̂ - μ_true)/σ, with their errors
        (σ_pull/√n and σ_pull/√(2(n-1))); for correct intervals 0 and 1.
    pull_kind
        ``"side"``: σ is the interval half-width on the side of the truth
        (p84 - μ̂ when μ_true ≥ μ̂, else μ̂ - p16), so |pull| ≤ 1 exactly when the
        interval covers; ``"symmetric"``: σ = (p84 - p16)/2.
    n_pulls
        Valid rows with a finite pull (a zero half-width gives none).
    score
        The challenge score of the valid rows (None without any).
    """

    n: int
    n_valid: int
    n_failed: int
    coverage: float
    coverage_error: float
    mean_width: float
    median_width: float
    bias: float
    bias_error: float
    pull_mean: float
    pull_mean_error: float
    pull_width: float
    pull_width_error: float
    pull_kind: str
    n_pulls: int
    score: ScoreResult | None

    @property
    def warnings(self) -> tuple[str, ...]:
        """Coverage and pull width outside their statistical windows (module docstring).

        Empty when both are inside, or there are too few valid pseudo-experiments to
        tell (coverage: none; pull width: fewer than two pulls).
        """
        out = []
        m, c0 = self.n_valid, NOMINAL_COVERAGE
        if m and math.isfinite(self.coverage):
            window = WINDOW_SIGMA * math.sqrt(c0 * (1.0 - c0) / m)
            if abs(self.coverage - c0) > window:
                side = "over" if self.coverage > c0 else "under"
                out.append(
                    f"coverage {self.coverage:.3f} of {m} pseudo-experiments is outside "
                    f"{c0} ± {window:.3f} ({WINDOW_SIGMA:g}σ binomial): the intervals "
                    f"{side}-cover"
                )
        k = self.n_pulls
        if k >= 2 and math.isfinite(self.pull_width):
            window = WINDOW_SIGMA / math.sqrt(2.0 * (k - 1))
            if abs(self.pull_width - 1.0) > window:
                kind = "too narrow" if self.pull_width > 1.0 else "too wide"
                out.append(
                    f"pull width {self.pull_width:.3f} of {k} pulls is outside 1 ± {window:.3f} "
                    f"({WINDOW_SIGMA:g}σ): the intervals are {kind}"
                )
        return tuple(out)

    @property
    def n_invalid(self) -> int:
        """Rows whose task ran but returned an invalid fit or interval."""
        return self.n - self.n_valid - self.n_failed

    def as_dict(self) -> dict[str, Any]:
        """The figures as a JSON-able dict (the score as a nested dict)."""
        out = asdict(self)
        out["n_invalid"] = self.n_invalid
        out["warnings"] = list(self.warnings)
        if self.score is not None:
            out["score"] = {**asdict(self.score), "window": list(self.score.window)}
        return out

    def _lines(self) -> list[tuple[str, str]]:
        return [
            ("coverage", f"{self.coverage:.4f} ± {self.coverage_error:.4f}  "
                         f"(nominal {NOMINAL_COVERAGE})"),
            ("width", f"mean {self.mean_width:.5g}, median {self.median_width:.5g}"),
            ("bias", f"{self.bias:.4g} ± {self.bias_error:.2g}"),
            ("pull mean", f"{self.pull_mean:.4f} ± {self.pull_mean_error:.4f}"),
            ("pull width", f"{self.pull_width:.4f} ± {self.pull_width_error:.4f}  "
                           f"({self.pull_kind} σ, {self.n_pulls} pulls)"),
            ("score", "n/a" if self.score is None else
                      f"{self.score.score:.4f}  (f(c) = {self.score.f_c:.4g})"),
        ]  # fmt: skip

    def __repr__(self) -> str:
        head = (
            f"ToySummary({self.n} pseudo-experiments: {self.n_valid} valid, "
            f"{self.n_invalid} invalid, {self.n_failed} failed)"
        )
        lines = [f"  {k:<12}{v}" for k, v in self._lines()]
        return "\n".join([head, *lines, *(f"  WARNING: {w}" for w in self.warnings)])

    def _repr_html_(self) -> str:
        colour = "#c8f0c8" if self.n_valid == self.n and self.n else "#f0e0c0"
        rows = "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in self._lines())
        rows += "".join(
            f"<tr><td colspan=2 style='background:#f0c8c8'>WARNING: {html.escape(w)}</td></tr>"
            for w in self.warnings
        )
        return (
            f"<table><tr><th colspan=2 style='background:{colour}'>{self.n} "
            f"pseudo-experiments: {self.n_valid} valid, {self.n_invalid} invalid, "
            f"{self.n_failed} failed</th></tr>{rows}</table>"
        )


def _mean_and_error(x: npt.NDArray[np.float64]) -> tuple[float, float, float, float]:
    """Mean, its error, standard deviation and its error (NaN where undefined)."""
    n = x.size
    if n == 0:
        return math.nan, math.nan, math.nan, math.nan
    mean = float(np.mean(x))
    if n < 2:
        return mean, math.nan, math.nan, math.nan
    sd = float(np.std(x, ddof=1))
    return mean, sd / math.sqrt(n), sd, sd / math.sqrt(2 * (n - 1))


@dataclass(frozen=True, eq=False)
class ToyStudy:
    """The rows of a toy study and where they are stored.

    Attributes
    ----------
    rows
        One row per seed, in the order the seeds were given; columns
        :data:`~unbinned.infer.toyrows.REQUIRED_COLUMNS`, the task's own columns,
        and ``error`` (None, or the exception of a failed task).
    store
        The JSON-lines store, if any.
    task
        Description of the task that made the rows.
    """

    rows: pd.DataFrame
    store: Path | None = None
    task: str = ""

    @classmethod
    def from_store(cls, path: str | os.PathLike[str]) -> ToyStudy:
        """Read a store without running anything.

        The rows come sorted by seed; a last line cut short is ignored, not repaired.
        """
        task, rows = read_store(path)
        return cls(rows_frame([rows[s] for s in sorted(rows)]), Path(path), task)

    @property
    def failures(self) -> pd.DataFrame:
        """The rows of tasks that raised, with their ``error``."""
        return self.rows[self.rows["error"].notna()]

    def _valid_mask(self) -> npt.NDArray[np.bool_]:
        df = self.rows
        if df.empty:
            return np.zeros(0, dtype=bool)
        ok = df["error"].isna().to_numpy() & df["valid"].to_numpy(dtype=bool)
        vals = {k: df[k].to_numpy(dtype=np.float64) for k in FLOAT_COLUMNS}
        for v in vals.values():
            ok &= np.isfinite(v)
        with np.errstate(invalid="ignore"):
            ok &= vals["p16"] <= vals["p84"]
        out: npt.NDArray[np.bool_] = ok
        return out

    def summary(self, *, pull: Literal["side", "symmetric"] = "side") -> ToySummary:
        """Coverage, bias, pulls and the challenge score of the valid rows.

        Parameters
        ----------
        pull
            How σ of the pull (μ̂ - μ_true)/σ is taken from the interval: ``"side"``
            (the half-width on the side of the truth) or ``"symmetric"``
            ((p84 - p16)/2).  See :class:`ToySummary`.
        """
        if pull not in ("side", "symmetric"):
            raise ConfigError(f"pull must be 'side' or 'symmetric', got {pull!r}")
        df = self.rows
        n = len(df)
        n_failed = int(df["error"].notna().sum()) if n else 0
        ok = self._valid_mask()
        v = df[ok]
        mu = v["mu_true"].to_numpy(dtype=np.float64)
        mu_hat = v["mu_hat"].to_numpy(dtype=np.float64)
        lo = v["p16"].to_numpy(dtype=np.float64)
        hi = v["p84"].to_numpy(dtype=np.float64)
        m = mu.size
        if m:
            c = float(np.mean((lo <= mu) & (mu <= hi)))
            c_err = math.sqrt(c * (1.0 - c) / m)
            width = hi - lo
            mean_w, med_w = float(np.mean(width)), float(np.median(width))
            score: ScoreResult | None = challenge_score(mu, lo, hi)
        else:
            c = c_err = mean_w = med_w = math.nan
            score = None
        bias, bias_err, _, _ = _mean_and_error(mu_hat - mu)
        if pull == "side":
            sigma = np.where(mu >= mu_hat, hi - mu_hat, mu_hat - lo)
        else:
            sigma = 0.5 * (hi - lo)
        with np.errstate(divide="ignore", invalid="ignore"):
            pulls = (mu_hat - mu) / sigma
        pulls = pulls[np.isfinite(pulls)]
        p_mean, p_mean_err, p_sd, p_sd_err = _mean_and_error(pulls)
        return ToySummary(
            n=n, n_valid=m, n_failed=n_failed, coverage=c, coverage_error=c_err,
            mean_width=mean_w, median_width=med_w, bias=bias, bias_error=bias_err,
            pull_mean=p_mean, pull_mean_error=p_mean_err, pull_width=p_sd,
            pull_width_error=p_sd_err, pull_kind=pull, n_pulls=int(pulls.size), score=score,
        )  # fmt: skip

    def __repr__(self) -> str:
        n = len(self.rows)
        n_failed = int(self.rows["error"].notna().sum()) if n else 0
        where = f", store {str(self.store)!r}" if self.store is not None else ""
        return (
            f"ToyStudy({n} pseudo-experiments of {self.task or 'an unnamed task'}{where}: "
            f"{int(self._valid_mask().sum())} valid, {n_failed} failed)"
        )

    def _repr_html_(self) -> str:
        where = f" (store <code>{self.store}</code>)" if self.store is not None else ""
        return f"<p>Toy study of <code>{self.task}</code>{where}</p>" + (
            self.summary()._repr_html_()
        )
