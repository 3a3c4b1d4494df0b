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

from typing import Any

from unbinned.model.spec import ModelSpec

__all__ = ["CHALLENGE_MODEL", "challenge_spec"]

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
