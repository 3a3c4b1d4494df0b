"""The FAIR Universe HiggsML Uncertainty Challenge: its score (and, later, its model interface)."""

from unbinned.challenge.score import ScoreResult, challenge_score, coverage_penalty, coverage_window

__all__ = ["ScoreResult", "challenge_score", "coverage_penalty", "coverage_window"]
