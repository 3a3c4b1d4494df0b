"""The model declaration of the H→ττ challenge analysis (DESIGN.md §2–3).

One parameter of interest, the signal strength μ; the three detector nuisances
act on the shapes through the learned response, the three normalisations on the
rates analytically.  The priors are the challenge's (the distributions its
pseudo-experiments draw the true values from), as constraint terms of q:

======================  ==========  ===========  ===================  =====================
parameter               acts on     prior        nominal, width       bounds
======================  ==========  ===========  ===================  =====================
mu                      rate (sig)  none (POI)   init 1               [0, 10]
tes                     shape       Gaussian     1, 0.01              [0.95, 1.05]
jes                     shape       Gaussian     1, 0.01              [0.95, 1.05]
soft_met (GeV)          shape       log-normal   1, 1                 [0.001, 5]
ttbar_scale             rate        Gaussian     1, 0.02              [0.8, 1.2]
diboson_scale           rate        Gaussian     1, 0.25              [0.001, 2]
bkg_scale               rate        Gaussian     1, 0.001             [0.99, 1.01]
======================  ==========  ===========  ===================  =====================

soft_met is drawn from LogNormal(0, 1) GeV in the challenge, so its constraint is
the log-normal (ln soft_met)², which also keeps the fit away from soft_met = 0,
where the smearing switches off.  The tes and jes bounds are ±5σ; the surrogates
are trained to ±3σ, and a 10 fb⁻¹ dataset constrains both to ±0.03σ-ish.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from unbinned.data.schema import PROCESS_COLUMN
from unbinned.exceptions import ConfigError, SchemaError
from unbinned.model.spec import ModelSpec

__all__ = [
    "CHALLENGE_MODEL",
    "PRODUCTION_MODES",
    "challenge_spec",
    "production_mode_spec",
    "split_production_modes",
]

PRODUCTION_MODES: Mapping[str, str] = {"ggH": "mu_ggh", "VBF": "mu_vbf"}
"""The H→ττ signal's production modes (the simulator's ``production_mode``) and their POIs."""

CHALLENGE_MODEL: dict[str, Any] = {
    "pois": [{"name": "mu", "init": 1.0, "bounds": [0.0, 10.0]}],
    "nuisances": [
        {"name": "tes", "nominal": 1.0, "prior": "gaussian", "width": 0.01,
         "bounds": [0.95, 1.05], "acts_on": "shape"},
        {"name": "jes", "nominal": 1.0, "prior": "gaussian", "width": 0.01,
         "bounds": [0.95, 1.05], "acts_on": "shape"},
        {"name": "soft_met", "nominal": 1.0, "prior": "lognormal", "width": 1.0,
         "bounds": [0.001, 5.0], "acts_on": "shape"},
        {"name": "ttbar_scale", "nominal": 1.0, "prior": "gaussian", "width": 0.02,
         "bounds": [0.8, 1.2]},
        {"name": "diboson_scale", "nominal": 1.0, "prior": "gaussian", "width": 0.25,
         "bounds": [0.001, 2.0]},
        {"name": "bkg_scale", "nominal": 1.0, "prior": "gaussian", "width": 0.001,
         "bounds": [0.99, 1.01]},
    ],
    "processes": [
        {"name": "htautau", "signal": True, "modifiers": [{"parameter": "mu"}]},
        {"name": "ztautau", "modifiers": [{"parameter": "bkg_scale"}]},
        {"name": "ttbar", "modifiers": [{"parameter": "ttbar_scale"},
                                        {"parameter": "bkg_scale"}]},
        {"name": "diboson", "modifiers": [{"parameter": "diboson_scale"},
                                          {"parameter": "bkg_scale"}]},
    ],
    "regions": [{"name": "inclusive", "kind": "unbinned"}],
}  # fmt: skip
"""The declaration as a plain mapping (what :func:`challenge_spec` validates)."""


def challenge_spec(shape_nuisances: tuple[str, ...] = ("tes", "jes", "soft_met")) -> ModelSpec:
    """The H→ττ challenge model (table in the module docstring).

    Parameters
    ----------
    shape_nuisances
        The shape nuisances the surrogate was trained for; the others are declared
        ``fixed`` (held at nominal) so that a surrogate trained on fewer nuisances
        still fits.
    """
    model = {**CHALLENGE_MODEL, "nuisances": []}
    for n in CHALLENGE_MODEL["nuisances"]:
        entry = dict(n)
        if entry.get("acts_on") == "shape" and entry["name"] not in shape_nuisances:
            entry = {"name": entry["name"], "nominal": 0.0 if entry["name"] == "soft_met" else 1.0,
                     "prior": "fixed", "acts_on": "shape"}  # fmt: skip
        model["nuisances"].append(entry)
    return ModelSpec.from_dict(model)


def production_mode_spec(
    shape_nuisances: tuple[str, ...] = ("tes", "jes", "soft_met"),
    control_regions: Mapping[str, str] | None = None,
) -> ModelSpec:
    """The challenge model with one signal process and signal strength per production mode.

    The signal ``htautau`` becomes the processes ``ggH`` (POI ``mu_ggh``) and ``VBF``
    (POI ``mu_vbf``), both in [0, 10] (:data:`PRODUCTION_MODES`); everything else is
    :func:`challenge_spec`'s.  The unbinned region is ``SR``; ``control_regions``
    maps counting regions' names to their selections (e.g.
    ``{"CR": "DER_mass_transverse_met_lep > 80"}``), the SR holding the other events.
    Train it on simulation split with :func:`split_production_modes`.
    """
    base = challenge_spec(shape_nuisances).model_dump(mode="json")
    signal = [p for p in base["processes"] if p["signal"]]
    if len(signal) != 1:
        raise ConfigError(f"the challenge model has signal processes {signal}; expected one")
    others = [p for p in base["processes"] if not p["signal"]]
    base["pois"] = [{"name": poi, "init": 1.0, "bounds": [0.0, 10.0]}
                    for poi in PRODUCTION_MODES.values()]  # fmt: skip
    base["processes"] = [
        {"name": mode, "signal": True, "modifiers": [{"parameter": poi}]}
        for mode, poi in PRODUCTION_MODES.items()
    ] + others
    base["regions"] = [{"name": "SR", "kind": "unbinned"}] + [
        {"name": name, "kind": "counting", "selection": sel}
        for name, sel in (control_regions or {}).items()
    ]
    return ModelSpec.from_dict(base)


def split_production_modes(frame: pd.DataFrame, column: str = "production_mode") -> pd.DataFrame:
    """The simulated H→ττ events with the signal labelled by production mode.

    A copy of ``frame`` whose ``htautau`` events carry their ``column`` value
    (``ggH`` or ``VBF``) as process label, for :func:`production_mode_spec` (pass
    ``processes=(*PRODUCTION_MODES, "ztautau", "ttbar", "diboson")`` to the source).

    Raises
    ------
    SchemaError
        The frame lacks the process or the production-mode column, or a signal event
        has another production mode.
    """
    for col in (PROCESS_COLUMN, column):
        if col not in frame.columns:
            raise SchemaError(
                f"the frame lacks the {col!r} column; simulate it with "
                "unbinned.sim.htautau.simulate, which records the production mode"
            )
    out = frame.copy()
    signal = out[PROCESS_COLUMN].to_numpy() == "htautau"
    modes = out[column].astype(str).to_numpy()
    bad = sorted(set(modes[signal]) - set(PRODUCTION_MODES))
    if bad:
        raise SchemaError(
            f"signal events with production mode(s) {bad} in column {column!r}; expected "
            f"{list(PRODUCTION_MODES)}"
        )
    labels = out[PROCESS_COLUMN].to_numpy(dtype=object).copy()
    labels[signal] = modes[signal]
    out[PROCESS_COLUMN] = labels
    return out
