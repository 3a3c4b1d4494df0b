r"""A physics-motivated H→ττ (lep–had) simulator in the FAIR Universe challenge format.

The built-in default data of ``unbinned``: the four challenge processes

* ``htautau``: H(125) from gluon fusion (hard qT spectrum, ISR jets) and VBF
  (two forward tag jets, large Δη and m_jj); the mode is kept in the extra
  column ``production_mode``;
* ``ztautau``: Z/γ* with its Breit–Wigner line shape and a Drell–Yan-like qT and
  rapidity;
* ``ttbar``: t → bW with W → ℓν (or τ → ℓ) and W → τ_hν or a quark/b jet
  misidentified as τ_h;
* ``diboson``: WW, VZ and ZZ with lep–had final states;

each decaying to a lepton (e/μ) and a hadronic τ with the τ decay spectra
(:mod:`._tau`), plus initial-state radiation balancing the hard system, and a
detector model (:mod:`._detector`): resolutions, acceptance, jets, MET with a
soft term.  Every DER feature is computed by :func:`unbinned.data.derived.compute_derived`.

The kinematics are computed in float32 from float32 draws (:mod:`._random`; momenta
in GeV lose nothing measurable at its 6e-8 relative precision) and stored as the
challenge's float64 columns.

Examples
--------
>>> from unbinned.sim.htautau import simulate
>>> df = simulate(2000, seed=3)
>>> sorted(df["detailed_labels"].unique())
['diboson', 'htautau', 'ttbar', 'ztautau']
"""

from unbinned.sim.htautau._config import (
    RAW_HAD_PT_MIN,
    RAW_JET_PT_MIN,
    RAW_LEP_PT_MIN,
    SimulationConfig,
)
from unbinned.sim.htautau._processes import TRUTH_COLUMNS
from unbinned.sim.htautau._pseudo import raw_rates, simulate_pseudo_experiment
from unbinned.sim.htautau._simulate import (
    CHALLENGE_COLUMNS,
    PRODUCTION_MODE_COLUMN,
    SIMULATOR_ATTR,
    TRAINING_EVENTS,
    simulate,
)

__all__ = [
    "CHALLENGE_COLUMNS",
    "PRODUCTION_MODE_COLUMN",
    "RAW_HAD_PT_MIN",
    "RAW_JET_PT_MIN",
    "RAW_LEP_PT_MIN",
    "SIMULATOR_ATTR",
    "TRAINING_EVENTS",
    "TRUTH_COLUMNS",
    "SimulationConfig",
    "raw_rates",
    "simulate",
    "simulate_pseudo_experiment",
]
