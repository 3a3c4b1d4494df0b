"""The shared base of the built-in sources and the surrogate protocol."""

import pytest

from unbinned.exceptions import ConfigError
from unbinned.ml import GaussianToySource, SurrogateConfig, TrainConfig, train_surrogate
from unbinned.ml.runtime import RunOptions
from unbinned.ml.sources import BaseVariationSource, VariationSource
from unbinned.ml.surrogate import SurrogateLike


def test_builtin_sources_share_the_base_class():
    src = GaussianToySource(200, seed=0)
    assert isinstance(src, BaseVariationSource)
    assert isinstance(src, VariationSource)
    with pytest.raises(ConfigError, match="unknown process 'nope'"):
        src.nominal("nope")
    assert len(src.nominal()) == len(src.nominal("sig")) + len(src.nominal("bkg"))
    with pytest.raises(TypeError):
        BaseVariationSource()  # type: ignore[abstract]


def test_surrogate_model_satisfies_the_protocol():
    fast = TrainConfig(hidden=(8,), epochs=1)
    model = train_surrogate(
        GaussianToySource(500, seed=1),
        config=SurrogateConfig(classifier=fast, response=fast),
        run=RunOptions(progress=False),
    )
    assert isinstance(model, SurrogateLike)
