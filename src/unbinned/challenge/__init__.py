"""The FAIR Universe HiggsML Uncertainty Challenge: its model interface and its score."""

from unbinned.challenge.model import ChallengeSettings, Model, challenge_systematics
from unbinned.challenge.score import ScoreResult, challenge_score, coverage_penalty, coverage_window

__all__ = [
    "ChallengeSettings",
    "Model",
    "ScoreResult",
    "challenge_score",
    "challenge_systematics",
    "coverage_penalty",
    "coverage_window",
]
