"""EventTensors validation and helpers; the ShapeParameter and ResponseModel types."""

from __future__ import annotations

import numpy as np
import pytest

from _models import PolyResponse
from unbinned.exceptions import DataError
from unbinned.likelihood.tensors import EventTensors, ResponseModel, ShapeParameter


def _tensors() -> EventTensors:
    c = np.array([[0.2, 0.8], [0.6, 0.4], [1.0, 0.0]])
    d = np.arange(12, dtype=np.float64).reshape(3, 2, 2)
    return EventTensors(c, np.array([1.0, 2.0, 0.5]), d)


def test_sizes_select_and_with_weights():
    t = _tensors()
    assert (t.n_events, t.n_processes, t.sum_weights) == (3, 2, 3.5)
    sub = t.select(np.array([True, False, True]))
    assert sub.n_events == 2
    assert sub.weights.tolist() == [1.0, 0.5]
    assert sub.delta is not None
    assert t.delta is not None
    assert sub.delta.tolist() == [t.delta[0].tolist(), t.delta[2].tolist()]
    rw = t.with_weights([3, 3, 3])
    assert rw.weights.dtype == np.float64
    assert rw.sum_weights == 9.0
    assert rw.fractions is t.fractions
    no_delta = EventTensors(t.fractions, t.weights).select([0])
    assert no_delta.delta is None


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"fractions": np.ones(3)}, "expected \\(n_events, n_processes\\)"),
        ({"weights": np.ones(2)}, "weights have shape"),
        ({"delta": np.ones((3, 1, 2))}, "delta has shape"),
        ({"delta": np.ones((3, 2))}, "delta has shape"),
        ({"weights": np.array([1.0, np.inf, 1.0])}, "per-event weights contain NaN"),
        ({"delta": np.full((3, 2, 1), np.nan)}, "per-event delta contain NaN"),
        ({"fractions": -np.ones((3, 2))}, "non-negative"),
    ],
)
def test_invalid_tensors_are_data_errors(kwargs, match):
    args = {"fractions": np.ones((3, 2)), "weights": np.ones(3), "delta": None} | kwargs
    with pytest.raises(DataError, match=match):
        EventTensors(**args)


def test_shape_parameter_and_response_protocol():
    sp = ShapeParameter("alpha", 0.0, 2.0)
    assert sp.power == 1
    assert isinstance(PolyResponse(), ResponseModel)
    assert not isinstance(object(), ResponseModel)
