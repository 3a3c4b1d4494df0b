"""FisherResult on an information matrix that is not positive definite."""

import math

import numpy as np

from unbinned.infer.fisher import FisherResult


def test_sigma_is_nan_without_a_positive_variance() -> None:
    # eigenvalues 3 and -1: the inverse has a negative diagonal entry for "mu"
    info = np.array([[1.0, 2.0], [2.0, 1.0]])
    res = FisherResult(("mu", "nu"), ("mu", "nu"), info, {"mu": 1.0, "nu": 0.0})
    assert math.isnan(res.sigma("mu"))
    assert "nan" in repr(res)


def test_sigma_of_a_positive_definite_information() -> None:
    res = FisherResult(("mu",), ("mu",), np.array([[4.0]]), {"mu": 1.0})
    assert res.sigma("mu") == 0.5
