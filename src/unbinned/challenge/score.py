"""The score of the FAIR Universe HiggsML Uncertainty Challenge.

Defined in :mod:`unbinned.infer.score` (the formula, its source and the checks are
documented there), so that toy studies can report it without importing this
package; re-exported here beside the challenge's model interface.

Examples
--------
>>> from unbinned.challenge import challenge_score
>>> r = challenge_score([1.0, 1.0, 1.0], [0.8, 0.9, 1.1], [1.2, 1.1, 1.3])
>>> r.coverage, round(r.mean_width, 6)
(0.6666666666666666, 0.266667)
>>> r.f_c
1.0
"""

from __future__ import annotations

from unbinned.infer.score import (
    EPSILON,
    NOMINAL_COVERAGE,
    ScoreResult,
    challenge_score,
    coverage_penalty,
    coverage_window,
)

__all__ = [
    "EPSILON",
    "NOMINAL_COVERAGE",
    "ScoreResult",
    "challenge_score",
    "coverage_penalty",
    "coverage_window",
]
