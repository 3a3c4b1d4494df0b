"""Shared fixtures: the real challenge sample (skipped when absent) and small data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

# One intra-op thread: the tests use small tensors, for which thread start-up costs more
# than it saves, and CI has two cores.
torch.set_num_threads(1)

_REPO = Path(__file__).resolve().parents[1]
SAMPLE_NAME = "FAIR_Universe_HiggsML_sample.parquet"


def sample_dir() -> Path | None:
    """The folder holding the real FAIR Universe sample, or None."""
    env = os.environ.get("UNBINNED_SAMPLE_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(_REPO.parent / "shared" / "data")
    for c in candidates:
        if (c / SAMPLE_NAME).is_file():
            return c
    return None


@pytest.fixture(scope="session")
def real_sample_path() -> Path:
    """Path of the real 1000-event sample; skips the test when it is absent."""
    d = sample_dir()
    if d is None:
        pytest.skip(
            f"real FAIR Universe sample {SAMPLE_NAME} not found in $UNBINNED_SAMPLE_DATA "
            "or ../shared/data; set UNBINNED_SAMPLE_DATA to its folder to run this test"
        )
    return d / SAMPLE_NAME
