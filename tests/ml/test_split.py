"""A source split by its events: disjoint parts, the same events at every ν, whole yields."""

from __future__ import annotations

import numpy as np
import pytest

from unbinned.exceptions import ConfigError
from unbinned.ml import GaussianToySource, HeldOutSource, split_source
from unbinned.ml.sources import EVENT_ID


def _ids(events) -> set[int]:
    return set(events.extras[EVENT_ID].to_numpy(np.int64).tolist())


def test_the_parts_are_disjoint_cover_the_source_and_keep_its_yields():
    src = GaussianToySource(4000, seed=1)
    kept, held = split_source(src, 0.25, seed=7)
    for p in src.processes:
        a, b = set(kept.generated_ids(p).tolist()), set(held.generated_ids(p).tolist())
        assert not a & b
        assert a | b == set(src.generated_ids(p).tolist())
        assert len(b) / (len(a) + len(b)) == pytest.approx(0.25, abs=0.03)
        whole = src.nominal(p).weights.sum()
        for part in (kept, held):
            assert part.nominal(p).weights.sum() == pytest.approx(whole, rel=0.1)
    # the same events at every ν (nominal and varied share their ids)
    nu = np.array([0.5, -1.0])
    assert _ids(held.varied("sig", nu)) <= set(held.generated_ids("sig").tolist())
    assert _ids(held.nominal("sig")) <= set(held.generated_ids("sig").tolist())
    again = split_source(src, 0.25, seed=7)[1]
    assert np.array_equal(again.generated_ids("bkg"), held.generated_ids("bkg"))
    other = split_source(src, 0.25, seed=8)[1]
    assert not np.array_equal(other.generated_ids("bkg"), held.generated_ids("bkg"))
    assert "held_out, 25 % of" in repr(held)
    assert held.description == "the held-out 25 % of a GaussianToySource's events (seed 7)"
    # a subset of the part's events when asked
    some = held.generated_ids("sig")[:10]
    assert _ids(held.nominal("sig", event_ids=some)) <= set(some.tolist())


def test_bad_settings_are_one_clear_error():
    src = GaussianToySource(100, seed=1)
    with pytest.raises(ConfigError, match="fraction"):
        split_source(src, 1.5)
    with pytest.raises(ConfigError, match="part"):
        HeldOutSource(src, 0.2, "middle")  # type: ignore[arg-type]
    with pytest.raises(AttributeError, match="design"):
        _ = split_source(src, 0.2)[0].design  # the toy has none to pass on
