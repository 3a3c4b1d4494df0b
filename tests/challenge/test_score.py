"""The FAIR Universe HiggsML challenge score on hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from unbinned.challenge import ScoreResult, challenge_score, coverage_penalty, coverage_window
from unbinned.exceptions import DataError

# N = 100 by hand: σ68 = sqrt(0.6827 · 0.3173 / 100) = sqrt(0.21662071) / 10 = 0.0465425300,
# window = 0.6827 ∓ 2 σ68 = [0.5896149400, 0.7757850600].
SIGMA68_100 = 0.04654253001288177
LOWER_100 = 0.5896149399742364
UPPER_100 = 0.7757850600257635


def _intervals(n: int, n_cover: int, width: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n intervals of one width around truth 1; the first n_cover contain it."""
    mu = np.ones(n)
    lo = np.where(np.arange(n) < n_cover, 1.0 - width / 2, 1.1)
    return mu, lo, lo + width


def test_window_by_hand() -> None:
    lo, hi = coverage_window(100)
    assert lo == pytest.approx(LOWER_100, abs=1e-12)
    assert hi == pytest.approx(UPPER_100, abs=1e-12)
    assert math.sqrt(0.6827 * 0.3173 / 100) == pytest.approx(SIGMA68_100, rel=1e-12)


def test_inside_window_f_is_one() -> None:
    mu, lo, hi = _intervals(100, 68, 0.4)
    r = challenge_score(mu, lo, hi)
    assert r.coverage == pytest.approx(0.68)
    assert r.mean_width == pytest.approx(0.4)
    assert r.f_c == 1.0
    assert r.in_window
    # -ln(0.4 + 0.001) = -ln(0.401)
    assert r.score == pytest.approx(0.9137938516755678, rel=1e-12)
    assert r.n == 100


def test_below_window_fourth_power() -> None:
    mu, lo, hi = _intervals(100, 50, 0.4)
    r = challenge_score(mu, lo, hi)
    # (0.5 - 0.58961494) / 0.04654253 = -1.9254368; ^4 = 13.744271; f = 14.744271
    assert r.coverage == 0.5
    assert r.f_c == pytest.approx(14.744271421498405, rel=1e-10)
    assert r.score == pytest.approx(-math.log(0.401 * 14.744271421498405), rel=1e-12)
    assert r.score == pytest.approx(-1.7770607774684155, rel=1e-10)
    assert not r.in_window


def test_above_window_third_power() -> None:
    mu, lo, hi = _intervals(100, 90, 0.2)
    r = challenge_score(mu, lo, hi)
    # (0.9 - 0.77578506) / 0.04654253 = 2.6688453; ^3 = 19.009537; f = 20.009537
    assert r.coverage == pytest.approx(0.9)
    assert r.f_c == pytest.approx(20.00953699237768, rel=1e-10)
    assert r.score == pytest.approx(-1.3917586385931642, rel=1e-10)


def test_exponents() -> None:
    # two σ68 beyond the window edges: 1 + 2^4 below, 1 + 2^3 above
    assert coverage_penalty(LOWER_100 - 2 * SIGMA68_100, 100) == pytest.approx(17.0, rel=1e-10)
    assert coverage_penalty(UPPER_100 + 2 * SIGMA68_100, 100) == pytest.approx(9.0, rel=1e-10)


def test_window_edges_belong_to_window() -> None:
    lo, hi = coverage_window(100)
    assert coverage_penalty(lo, 100) == 1.0
    assert coverage_penalty(hi, 100) == 1.0
    assert coverage_penalty(0.6827, 100) == 1.0
    assert coverage_penalty(lo - 1e-3, 100) > 1.0
    assert coverage_penalty(hi + 1e-3, 100) > 1.0


def test_small_example_and_scalar_truth() -> None:
    # widths 0.4, 0.2, 0.2 -> w = 0.8/3; the third interval misses 1.0 -> c = 2/3;
    # N = 3: the window [0.145, 1.220] holds c, so score = -ln(0.8/3 + 0.001)
    r = challenge_score(1.0, [0.8, 0.9, 1.1], [1.2, 1.1, 1.3])
    assert r.coverage == pytest.approx(2 / 3)
    assert r.mean_width == pytest.approx(0.8 / 3)
    assert r.score == pytest.approx(-math.log(0.8 / 3 + 1e-3), rel=1e-12)


def test_interval_edges_count_as_covering() -> None:
    r = challenge_score([1.0, 2.0], [1.0, 1.0], [1.5, 2.0])
    assert r.coverage == 1.0


def test_repr_and_html() -> None:
    mu, lo, hi = _intervals(100, 50, 0.4)
    r = challenge_score(mu, lo, hi)
    assert isinstance(r, ScoreResult)
    text = repr(r)
    assert "below window" in text
    assert "-1.7771" in text
    assert "<table>" in r._repr_html_()


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (([], [], []), "empty"),
        (([1.0], [0.5, 0.6], [1.5]), "same length"),
        (([1.0], [0.5], [1.5, 2.0]), "same length"),
        (([1.0, 2.0, 3.0], [0.5, 0.5], [1.5, 1.5]), "mu_true must be one number"),
        (([1.0], [np.nan], [1.5]), "p16 has 1 non-finite"),
        (([1.0], [0.5], [np.inf]), "p84 has 1 non-finite"),
        (([1.0, 1.0], [0.5, 1.5], [1.5, 0.5]), "p16 > p84"),
    ],
)
def test_bad_input(args: tuple[list[float], list[float], list[float]], match: str) -> None:
    with pytest.raises(DataError, match=match):
        challenge_score(*args)


def test_bad_penalty_input() -> None:
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        coverage_penalty(1.2, 10)
    with pytest.raises(DataError, match="at least 1"):
        coverage_penalty(0.5, 0)
    with pytest.raises(TypeError, match="integer"):
        coverage_penalty(0.5, 10.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="real number"):
        coverage_penalty("0.5", 10)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="array of numbers"):
        challenge_score(1.0, ["a"], [1.0])
