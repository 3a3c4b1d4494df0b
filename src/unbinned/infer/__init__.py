"""Inference: fits, intervals, scans."""

from unbinned.infer.batch import BatchFittable, fit_batch
from unbinned.infer.executors import (
    DaskExecutor,
    Executor,
    ProcessExecutor,
    SerialExecutor,
    make_executor,
)
from unbinned.infer.fisher import (
    FisherResult,
    Impact,
    Pull,
    fisher_information,
    impacts,
    impacts_by_poi,
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
from unbinned.infer.toys import ToyStudy, ToySummary, run_toys

__all__ = [
    "BatchFittable",
    "DaskExecutor",
    "Executor",
    "FisherResult",
    "FitResult",
    "Impact",
    "Interval",
    "ProcessExecutor",
    "ProfileScan",
    "Pull",
    "SerialExecutor",
    "ToyStudy",
    "ToySummary",
    "delta_q",
    "fisher_information",
    "fit",
    "fit_batch",
    "impacts",
    "impacts_by_poi",
    "make_executor",
    "profile_interval",
    "profile_scan",
    "profile_scan_2d",
    "pulls",
    "run_toys",
]
