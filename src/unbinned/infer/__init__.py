"""Inference: fits, intervals, scans."""

from unbinned.infer.fisher import (
    FisherResult,
    Impact,
    Pull,
    fisher_information,
    impacts,
    pulls,
)
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
    "FisherResult",
    "FitResult",
    "Impact",
    "Interval",
    "ProfileScan",
    "Pull",
    "delta_q",
    "fisher_information",
    "fit",
    "impacts",
    "profile_interval",
    "profile_scan",
    "profile_scan_2d",
    "pulls",
]
