"""unbinned: unbinned profile likelihoods with machine-learned systematic uncertainties.

Importing the package sets ``OMP_WAIT_POLICY=PASSIVE`` where it is not set (in effect
if torch is imported after it): idle OpenMP threads then sleep instead of spinning.
With spinning, a likelihood pass on 2 threads next to other load waits a scheduler
time slice at each of its many small parallel regions: ``challenge.Model.predict``
on a 10⁶-event pseudo-experiment took 35-50 s on 2 threads of a loaded 2-core
machine, 3-6 s with passive waiting (BENCHMARKS.md, "predict on two threads").
"""

from os import environ as _environ

_environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before anything loads torch's OpenMP

from unbinned._version import __version__

__all__ = ["__version__"]
