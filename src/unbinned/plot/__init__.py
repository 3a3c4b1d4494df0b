"""Plots of an analysis (matplotlib with an mplhep style; the ``plot`` extra).

Every function takes ``ax=None`` (a new figure in the unbinned style when None)
and returns the artists it drew.  matplotlib is imported only when a plot is drawn.

- :func:`plot_reweighting`: nominal vs varied feature distributions with the
  surrogate's reweighting overlaid (closure); :func:`plot_calibration`: classifier
  calibration.
- :func:`plot_scan`: the profile-likelihood scan (e.g. unbinned and binned overlaid)
  with the 68 % and 95 % lines; :func:`plot_scan_2d`: the joint contours of two
  POIs; :func:`plot_impacts`: impact ranking;
  :func:`plot_pulls`: nuisance pulls; :func:`plot_fisher_comparison`: expected
  uncertainties from the Fisher information, method by method.
- :func:`plot_mu_hat_vs_mu` and :func:`plot_coverage`: pseudo-experiment studies.

The binned templates are drawn by :func:`unbinned.binned.plot_templates`.
"""

from unbinned.plot.inference import (
    plot_fisher_comparison,
    plot_impacts,
    plot_pulls,
    plot_scan,
    plot_scan_2d,
)
from unbinned.plot.ml import plot_calibration, plot_reweighting
from unbinned.plot.style import new_axes, style
from unbinned.plot.toys import plot_coverage, plot_mu_hat_vs_mu

__all__ = [
    "new_axes",
    "plot_calibration",
    "plot_coverage",
    "plot_fisher_comparison",
    "plot_impacts",
    "plot_mu_hat_vs_mu",
    "plot_pulls",
    "plot_reweighting",
    "plot_scan",
    "plot_scan_2d",
    "style",
]
