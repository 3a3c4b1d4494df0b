"""Theory uncertainties: scale envelopes, the per-particle reference scheme, pulls, constraints.

DESIGN.md §5.  Scale variation underestimates the uncertainty of processes without a
QCD vertex at leading order; the reference scheme of Ghosh et al., arXiv:2210.15167
assigns Δσ±_ref = n δ±_ref σ0 to a process with n final-state particles, δ±_ref the
per-particle scale uncertainty averaged over pure-QCD processes (+14.7 % / -9.34 %).
The result enters the likelihood as an :class:`AsymmetricLogNormalConstraint`.
"""

from unbinned.theory._data import load_table, table_source
from unbinned.theory.constraint import (
    AsymmetricLogNormalConstraint,
    constraint_from_envelope,
    constraint_from_reference,
)
from unbinned.theory.reference import (
    PullTable,
    ReferenceUncertainty,
    lo_nlo_pulls,
    outlier_fraction,
    per_particle_reference,
    pull,
    reference_uncertainty,
)
from unbinned.theory.scale import ScaleEnvelope, scale_envelope

__all__ = [
    "AsymmetricLogNormalConstraint",
    "PullTable",
    "ReferenceUncertainty",
    "ScaleEnvelope",
    "constraint_from_envelope",
    "constraint_from_reference",
    "lo_nlo_pulls",
    "load_table",
    "outlier_fraction",
    "per_particle_reference",
    "pull",
    "reference_uncertainty",
    "scale_envelope",
    "table_source",
]
