"""Inference: fits, intervals, scans."""

from unbinned.infer.intervals import (
    Interval,
    ProfileScan,
    delta_q,
    profile_interval,
    profile_scan,
    profile_scan_2d,
)
from unbinned.infer.mle import FitResult, fit

__all__ = [
    "FitResult",
    "Interval",
    "ProfileScan",
    "delta_q",
    "fit",
    "profile_interval",
    "profile_scan",
    "profile_scan_2d",
]
