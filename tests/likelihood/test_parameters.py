"""The parameter vector shared by the unbinned and the binned likelihood."""

from __future__ import annotations

import numpy as np
import pytest

from unbinned.exceptions import ConfigError, DataError
from unbinned.likelihood._parameters import ParameterVector
from unbinned.model import ModelSpec


class _Vec(ParameterVector):
    def __init__(self, spec: ModelSpec) -> None:
        self.index = self._init_parameters(spec)


def _vec() -> _Vec:
    return _Vec(
        ModelSpec.from_dict(
            {
                "pois": [{"name": "mu", "init": 1.5, "bounds": [0.0, 10.0]}],
                "nuisances": [
                    {"name": "a", "nominal": 0.2, "width": 1.0, "acts_on": "shape"},
                    {"name": "k", "nominal": 1.0, "width": 0.1, "prior": "lognormal",
                     "acts_on": "shape"},
                ],
                "processes": [{"name": "p"}],
            }
        )
    )  # fmt: skip


def test_names_index_vector_and_values():
    v = _vec()
    assert v.parameter_names == ("mu", "a", "k")
    assert v.index == {"mu": 0, "a": 1, "k": 2}
    assert v.npar == 3
    assert v.vector().tolist() == [1.5, 0.2, 1.0]
    assert v.vector({"a": -1.0}).tolist() == [1.5, -1.0, 1.0]
    assert v.values([2.0, 0.0, 1.1]) == {"mu": 2.0, "a": 0.0, "k": 1.1}
    assert v._lo.tolist() == [0.0, -np.inf, 0.0]
    assert v._hi.tolist() == [10.0, np.inf, np.inf]
    with pytest.raises(ConfigError, match="unknown parameter"):
        v.vector({"nope": 1.0})


def test_theta_checks_shape_finiteness_and_bounds():
    v = _vec()
    x = v._theta([1.0, 3.0, 2.0])
    assert x.dtype == np.float64
    with pytest.raises(DataError, match="expected 3 parameter values"):
        v._theta([1.0])
    with pytest.raises(DataError, match="must be finite"):
        v._theta([1.0, np.nan, 1.0])
    with pytest.raises(DataError, match=r"'mu' = 11.0 is outside its bounds \[0.0, 10.0\]"):
        v._theta([11.0, 0.0, 1.0])
    with pytest.raises(DataError, match=r"'k' = -1.0 is outside its bounds \[0.0, inf\]"):
        v._theta([1.0, 0.0, -1.0])
