"""unbinned: unbinned profile likelihoods with machine-learned systematic uncertainties."""

from unbinned._version import __version__

__all__ = ["__version__"]
