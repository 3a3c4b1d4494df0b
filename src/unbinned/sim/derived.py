"""The 12 derived (DER) features of the challenge (re-exported from :mod:`unbinned.data.derived`).

The computation lives in the data layer, which the challenge loader and the
simulator both use; this module keeps the names importable from ``unbinned.sim``.
"""

from unbinned.data.derived import compute_derived, delta_phi, invariant_mass_massless

__all__ = ["compute_derived", "delta_phi", "invariant_mass_massless"]
