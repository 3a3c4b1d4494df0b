"""How many generated events each process's response trains on (issue 18)."""

import pytest

from unbinned.exceptions import ConfigError
from unbinned.ml.surrogate import SurrogateConfig, response_events


def test_the_largest_process_gets_the_most_events_the_others_their_share():
    cfg = SurrogateConfig(max_events_per_point=60_000, max_events_per_point_largest=1_000_000)
    n = response_events(cfg, {"sig": 100.0, "ztt": 100_000.0, "tt": 20_000.0})
    assert n == {"sig": 60_000, "ztt": 1_000_000, "tt": 200_000}
    # off, or every event anyway: the one cap as before
    off = SurrogateConfig(max_events_per_point_largest=None)
    assert set(response_events(off, {"a": 1.0, "b": 2.0}).values()) == {60_000}
    every = SurrogateConfig(max_events_per_point=None)
    assert set(response_events(every, {"a": 1.0, "b": 2.0}).values()) == {None}
    assert SurrogateConfig().to_dict()["max_events_per_point_largest"] == 1_000_000


def test_a_bad_largest_budget_is_one_clear_error():
    with pytest.raises(ConfigError, match="max_events_per_point_largest"):
        SurrogateConfig(max_events_per_point_largest=0)
