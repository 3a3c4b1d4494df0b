"""The README's "In Python" snippet runs as written (at a smaller size)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

import unbinned.analysis
import unbinned.challenge
import unbinned.sim.htautau
from unbinned.analysis import HealthOptions
from unbinned.challenge import ChallengeSettings
from unbinned.ml import SurrogateConfig, TrainConfig

README = Path(__file__).resolve().parents[2] / "README.md"
EVENTS = 3000
"""Generated events per process in place of the snippet's millions."""
SMALL = SurrogateConfig(
    classifier=TrainConfig(hidden=(16, 16), epochs=4, batch_size=2048, patience=2),
    response=TrainConfig(hidden=(16, 16), epochs=5, batch_size=2048, patience=3),
    max_events_per_point=4000,
)


def _snippet() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("### In Python")
    block: str = re.findall(r"```python\n(.*?)```", text[start:], flags=re.S)[0]
    return block


@pytest.mark.filterwarnings("ignore::unbinned.exceptions.TrainingWarning")
def test_in_python_snippet_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every name the snippet uses is defined there; it trains, measures and predicts.

    Only the sizes shrink: the simulation generates ``EVENTS`` per process (the
    weights keep each process's expected yield), the networks are small, and the
    challenge model's check of its training statistics is lowered to match.
    """
    simulate = unbinned.sim.htautau.simulate
    original_train = unbinned.analysis.train_analysis
    original_model = unbinned.challenge.Model

    def small_simulate(events_per_process: Any, **kw: Any) -> Any:
        return simulate(EVENTS, **kw)

    def small_train(*args: Any, **kw: Any) -> Any:
        return original_train(*args, surrogate_config=SMALL,
                              health=HealthOptions(enabled=False), **kw)  # fmt: skip

    class SmallModel(original_model):  # type: ignore[misc,valid-type]
        def __init__(self, **kw: Any) -> None:
            settings = ChallengeSettings(
                surrogate=SMALL, progress=False, model_dir=tmp_path / "model",
                min_simulation_ratio=0.01,
            )  # fmt: skip
            super().__init__(settings=settings, **kw)

    monkeypatch.setattr(unbinned.sim.htautau, "simulate", small_simulate)
    monkeypatch.setattr(unbinned.analysis, "train_analysis", small_train)
    monkeypatch.setattr(unbinned.challenge, "Model", SmallModel)
    namespace: dict[str, Any] = {}
    exec(compile(_snippet(), "README.md", "exec"), namespace)
    out = capsys.readouterr().out
    assert "Measurement(mu" in out
    result = namespace["result"]
    assert {"mu_hat", "delta_mu_hat", "p16", "p84"} <= set(result)
    assert result["p16"] <= result["mu_hat"] <= result["p84"]
