r"""Export a binned likelihood as a pyhf JSON workspace, and fit it with pyhf itself.

The export is *exact*: pyhf's likelihood of the workspace is the same function
as :class:`~unbinned.binned.BinnedLikelihood` up to a reparametrisation of the
nuisances and a constant, so both fits give the same μ̂ and σ_μ.  The
correspondence (θ natural units as declared; α pyhf's standard-normal parameter):

================================================  ==============================================
ModelSpec                                          pyhf
================================================  ==============================================
POI, or rate nuisance with prior free / uniform    ``normfactor`` (bounds as declared)
rate nuisance, prior fixed                         constant folded into the nominal histograms
rate nuisance, prior lognormal, factor θ           ``normsys`` hi = e^σ, lo = e^-σ, code1;
                                                   θ = θ⁰ e^{σα}
``lognormal`` modifier κ^θ, prior gaussian         ``normsys`` hi = κ^σ, lo = κ^-σ, code1;
                                                   θ = θ⁰ + σα
rate nuisance, prior gaussian, factor θ            ``histosys`` hi/lo = (1 ± σ/θ⁰) h⁰
                                                   (linear; exact only where it is the sample's
                                                   only additive modifier, see below);
                                                   θ = θ⁰ + σα
shape nuisance, prior gaussian                     ``histosys`` from the ±σ templates, same
                                                   interpolation code; θ = θ⁰ + σα
shape nuisance, prior fixed                        omitted (α = 0)
staterror (optional)                               ``staterror_<region>`` (same γ and δ_b)
================================================  ==============================================

Constrained rate factors are 1 at their nominal value in pyhf, so their nominal
value (θ⁰ or κ^θ⁰) is folded into the exported nominal histograms.

pyhf has no multiplicative modifier that is linear in a Gaussian-constrained
parameter (``normsys`` is exponential or polynomial; ``lumi`` is single and named
``lumi``), so a Gaussian rate nuisance with a linear factor θ is exported as a
symmetric ``histosys``, which is linear, but *additive*: it equals our
θ · (h⁰ + Σ shape deltas) only on samples without other additive (``histosys``)
modifiers.  Elsewhere :func:`to_pyhf` raises (``exact=True``, the default) or
exports the additive approximation with a :class:`PyhfApproximationWarning`
(``exact=False``).  Declare such a nuisance with ``prior: lognormal`` (or as a
``lognormal`` modifier κ^θ) to export it exactly as ``normsys``.

The interpolation codes are not part of the pyhf JSON format: they are model
settings (pyhf's defaults are code4 for ``normsys`` and code4p for
``histosys``).  Build the model with :attr:`PyhfExport.modifier_settings`
(:meth:`PyhfExport.model` does), i.e. ``normsys`` code1 and the likelihood's
``histosys`` code.

pyhf is an optional dependency (``pip install unbinned[pyhf]``); it is imported
only inside the functions that need it.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from unbinned.binned.likelihood import BinnedLikelihood, nominal_scale
from unbinned.binned.templates import RegionTemplates
from unbinned.exceptions import ConfigError, FitError

__all__ = [
    "ParameterMap",
    "PyhfApproximationWarning",
    "PyhfExport",
    "PyhfFitResult",
    "pyhf_fit",
    "to_pyhf",
]


class PyhfApproximationWarning(UserWarning):
    """The exported pyhf workspace approximates the likelihood instead of equalling it."""


@dataclass(frozen=True)
class ParameterMap:
    """How one model parameter θ maps onto a pyhf parameter x.

    ``transform``: ``"identity"`` (θ = x), ``"linear"`` (θ = θ⁰ + σ x),
    ``"log"`` (θ = θ⁰ e^{σ x}) or ``"constant"`` (θ = θ⁰, not a pyhf parameter).
    """

    name: str
    pyhf_name: str | None
    transform: Literal["identity", "linear", "log", "constant"]
    nominal: float = 0.0
    width: float = 1.0

    def to_natural(self, x: float) -> float:
        """θ from the pyhf value x."""
        if self.transform == "identity":
            return x
        if self.transform == "linear":
            return self.nominal + self.width * x
        if self.transform == "log":
            return self.nominal * math.exp(self.width * x)
        return self.nominal

    def error_to_natural(self, x: float, err: float) -> float:
        """Uncertainty of θ from that of x (exact for linear maps, first order for ``log``)."""
        if self.transform == "identity":
            return err
        if self.transform == "linear":
            return abs(self.width) * err
        if self.transform == "log":
            return abs(self.nominal * self.width * math.exp(self.width * x)) * err
        return 0.0

    def to_pyhf(self, theta: float) -> float:
        """x from the natural value θ."""
        if self.transform == "linear":
            return (theta - self.nominal) / self.width
        if self.transform == "log":
            return math.log(theta / self.nominal) / self.width
        return theta


@dataclass(frozen=True, eq=False)
class PyhfExport:
    """A pyhf workspace (JSON-able dict) with the settings and the map back to our parameters."""

    workspace: dict[str, Any]
    modifier_settings: dict[str, dict[str, str]]
    parameters: tuple[ParameterMap, ...]
    poi: str
    exact: bool = True
    notes: tuple[str, ...] = field(default=())

    def to_json(self, indent: int | None = 2) -> str:
        """The workspace as JSON text (pyhf's format, version 1.0.0)."""
        return json.dumps(self.workspace, indent=indent)

    def model(self) -> Any:
        """The pyhf model, built with the interpolation codes that make it exact."""
        import pyhf

        ws = pyhf.Workspace(self.workspace)
        return ws.model(modifier_settings=self.modifier_settings)

    def data(self, model: Any) -> list[float]:
        """Observed counts followed by the auxiliary data, as pyhf's fit expects."""
        import pyhf

        ws = pyhf.Workspace(self.workspace)
        return [float(v) for v in ws.data(model)]

    def pyhf_parameters(self, model: Any, values: Mapping[str, float]) -> list[float]:
        """pyhf's parameter vector (``model.config.par_names`` order) for natural values θ.

        Parameters not in ``values`` take pyhf's suggested start value.
        """
        names = list(model.config.par_names)
        pars = [float(v) for v in model.config.suggested_init()]
        for m in self.parameters:
            if m.pyhf_name is not None and m.name in values:
                pars[names.index(m.pyhf_name)] = m.to_pyhf(float(values[m.name]))
        return pars

    def __repr__(self) -> str:
        chans = [(c["name"], len(c["samples"][0]["data"])) for c in self.workspace["channels"]]
        return (
            f"PyhfExport(channels {chans}, POI {self.poi!r}, "
            f"{sum(p.pyhf_name is not None for p in self.parameters)} pyhf parameters, "
            f"{'exact' if self.exact else 'APPROXIMATE'})"
        )


def to_pyhf(
    likelihood: BinnedLikelihood,
    *,
    measurement: str = "measurement",
    exact: bool = True,
) -> PyhfExport:
    """Export ``likelihood`` (templates, constraints, observed counts) as a pyhf workspace.

    Parameters
    ----------
    likelihood
        The binned likelihood; its observed counts become the workspace's observations.
    measurement
        Name of the pyhf measurement.
    exact
        Raise :class:`~unbinned.exceptions.ConfigError` where pyhf cannot express
        the likelihood exactly (see the module docstring); with ``False`` export the
        additive approximation and warn instead.

    Returns
    -------
    PyhfExport
    """
    if not isinstance(likelihood, BinnedLikelihood):
        raise TypeError(
            f"to_pyhf exports a BinnedLikelihood, got {type(likelihood).__name__}; build one "
            "with unbinned.binned.BinnedLikelihood(spec, templates, observed)"
        )
    builder = _WorkspaceBuilder(likelihood, exact)
    builder.add_pois()
    rate_mods = builder.rate_modifiers()
    builder.add_shape_parameters()
    builder.add_bounds()
    channels, observations = builder.channels(rate_mods)
    if likelihood.staterror:
        builder.add_staterror_parameters()
    maps, notes = builder.maps, builder.notes
    poi = builder.spec.pois[0].name
    config = {"poi": poi, "parameters": builder.params_cfg}
    workspace = {
        "channels": channels,
        "observations": observations,
        "measurements": [{"name": measurement, "config": config}],
        "version": "1.0.0",
    }
    code = likelihood.interpolation
    settings = {"normsys": {"interpcode": "code1"}, "histosys": {"interpcode": code}}
    ordered = tuple(maps[n] for n in likelihood.parameter_names)
    return PyhfExport(workspace, settings, ordered, poi, exact=not notes, notes=tuple(notes))


class _WorkspaceBuilder:
    """The pieces of a pyhf workspace for :func:`to_pyhf`, gathered step by step.

    ``maps`` collects the parameter maps, ``params_cfg`` the measurement's parameter
    settings (in the order they are met) and ``notes`` the approximations made.
    """

    def __init__(self, likelihood: BinnedLikelihood, exact: bool) -> None:
        spec = likelihood.declared_spec
        self.likelihood = likelihood
        self.spec = spec
        self.templates = likelihood.templates
        self.exact = exact
        if likelihood._constraints:
            names = [c.name for c in likelihood._constraints]
            raise ConfigError(
                f"custom constraints on {names} have no pyhf equivalent; export a likelihood "
                "without them"
            )
        self.poi_names = set(spec.poi_names)
        self.nuis = {n.name: n for n in spec.nuisances}
        shape = {n.name for n in spec.shape_nuisances}
        used_as_rate = {m.parameter for p in spec.processes for m in p.modifiers}
        both = sorted(shape & used_as_rate)
        if both:
            raise ConfigError(
                f"parameter(s) {both} act both on shapes and as rate modifiers; pyhf cannot "
                "share one parameter between such modifiers: split them into two parameters"
            )
        self.maps: dict[str, ParameterMap] = {}
        self.params_cfg: list[dict[str, Any]] = []
        self.notes: list[str] = []

    def add_pois(self) -> None:
        """The POIs: identity-mapped normfactors with their start values and bounds."""
        for p in self.spec.pois:
            self.maps[p.name] = ParameterMap(p.name, p.name, "identity")
            cfg: dict[str, Any] = {"name": p.name, "inits": [p.init]}
            if p.bounds is not None:
                cfg["bounds"] = [list(p.bounds)]
            self.params_cfg.append(cfg)

    def rate_modifier(
        self, proc: str, param: str, kind: str, kappa: float | None
    ) -> dict[str, Any]:
        """The pyhf modifier of one rate modifier of ``proc`` (``_linear``: see _sample)."""
        maps = self.maps
        if param in self.poi_names:
            if kind != "normfactor":
                raise ConfigError(
                    f"process {proc!r}: the POI {param!r} enters as κ^{param}; pyhf POIs are "
                    "normfactors (linear): declare the modifier kind normfactor"
                )
            return {"name": param, "type": "normfactor", "data": None}
        n = self.nuis[param]
        if n.prior in ("free", "uniform"):
            if kind != "normfactor":
                raise ConfigError(
                    f"process {proc!r}: unconstrained parameter {param!r} enters as κ^θ, which "
                    "pyhf cannot express; use a normfactor modifier or a gaussian prior"
                )
            if param not in maps:
                maps[param] = ParameterMap(param, param, "identity")
                cfg: dict[str, Any] = {"name": param, "inits": [n.nominal]}
                if n.bounds is not None:
                    cfg["bounds"] = [list(n.bounds)]
                self.params_cfg.append(cfg)
            return {"name": param, "type": "normfactor", "data": None}
        assert n.width is not None
        if n.prior == "lognormal":
            if kind != "normfactor":
                raise ConfigError(
                    f"process {proc!r}: {param!r} has a lognormal prior and enters as κ^θ; "
                    "pyhf cannot express that; use a gaussian prior for a κ^θ modifier"
                )
            maps.setdefault(param, ParameterMap(param, param, "log", n.nominal, n.width))
            return {"name": param, "type": "normsys",
                    "data": {"hi": math.exp(n.width), "lo": math.exp(-n.width)}}  # fmt: skip
        # gaussian
        if kind == "normfactor":
            if n.nominal == 0:
                raise ConfigError(
                    f"rate nuisance {param!r} has nominal 0: the process vanishes at nominal; "
                    "give it a non-zero nominal"
                )
            maps.setdefault(param, ParameterMap(param, param, "linear", n.nominal, n.width))
            return {"name": param, "type": "_linear", "data": n.width / n.nominal}
        assert kappa is not None
        maps.setdefault(param, ParameterMap(param, param, "linear", n.nominal, n.width))
        return {"name": param, "type": "normsys",
                "data": {"hi": kappa**n.width, "lo": kappa ** (-n.width)}}  # fmt: skip

    def rate_modifiers(self) -> dict[str, list[dict[str, Any]]]:
        """The rate modifiers of every process; fixed ones fold into the nominal."""
        proc_decl = {p.name: p for p in self.spec.processes}
        rate_mods: dict[str, list[dict[str, Any]]] = {}
        for pname in self.templates.processes:
            mods = []
            for mod in proc_decl[pname].modifiers:
                n = self.nuis.get(mod.parameter)
                if n is not None and n.prior == "fixed":
                    self.maps.setdefault(n.name, ParameterMap(n.name, None, "constant", n.nominal))
                    continue  # folded into the nominal (nominal_scale)
                mods.append(self.rate_modifier(pname, mod.parameter, mod.kind, mod.kappa))
            rate_mods[pname] = mods
        return rate_mods

    def add_shape_parameters(self) -> None:
        """Shape nuisances as standard-normal histosys parameters; the rest constants."""
        templates, maps = self.templates, self.maps
        for name in templates.shape_nuisances:
            n = self.nuis[name]
            if n.prior == "fixed":
                maps[name] = ParameterMap(name, None, "constant", n.nominal)
                continue
            if n.prior != "gaussian":
                raise ConfigError(
                    f"shape nuisance {name!r} has prior {n.prior!r}; pyhf histosys parameters "
                    "are standard normal: declare it prior: gaussian to export"
                )
            if name in templates.parametrisation:
                raise ConfigError(
                    f"shape nuisance {name!r}: its templates interpolate in a power of it "
                    f"{templates.parametrisation[name]}, which a pyhf histosys (linear in the "
                    "parameter) cannot express; build the templates without parametrisation to "
                    "export"
                )
            assert n.width is not None
            maps[name] = ParameterMap(name, name, "linear", n.nominal, n.width)
        for n in self.spec.nuisances:
            if n.name not in maps:  # declared shape nuisances without templates are fixed
                maps[n.name] = ParameterMap(n.name, None, "constant", n.nominal)

    def add_bounds(self) -> None:
        """The declared bounds of the mapped nuisances, in pyhf's parameters."""
        for name, m in self.maps.items():
            if m.transform in ("linear", "log"):
                b = self.nuis[name].bounds
                if b is not None:
                    lo, hi = (m.to_pyhf(v) if (m.transform == "linear" or v > 0) else -math.inf
                              for v in b)  # fmt: skip
                    if math.isfinite(lo) and math.isfinite(hi):
                        self.params_cfg.append({"name": name, "bounds": [[lo, hi]]})

    def channels(
        self, rate_mods: Mapping[str, list[dict[str, Any]]]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The workspace's channels (one per region) and observations."""
        scale = {p: nominal_scale(self.spec, p) for p in self.templates.processes}
        channels, observations = [], []
        for r in self.templates.regions:
            samples = [
                self._sample(r, j, pname, scale[pname], rate_mods[pname])
                for j, pname in enumerate(r.processes)
            ]
            channels.append({"name": r.name, "samples": samples})
            observations.append({"name": r.name, "data": _list(self.likelihood.observed[r.name])})
        return channels, observations

    def _sample(
        self,
        r: RegionTemplates,
        j: int,
        pname: str,
        scale: float,
        rate_mods: list[dict[str, Any]],
    ) -> dict[str, Any]:
        """The pyhf sample of process ``pname`` (template row ``j``) in region ``r``."""
        nom = scale * r.nominal[j]
        modifiers: list[dict[str, Any]] = []
        additive = 0
        linear_norms = []
        for rm in rate_mods:
            if rm["type"] == "_linear":
                rel = float(rm["data"])
                lin = {"hi_data": _list(nom * (1 + rel)), "lo_data": _list(nom * (1 - rel))}
                modifiers.append({"name": rm["name"], "type": "histosys", "data": lin})
                additive += 1
                linear_norms.append(rm["name"])
            else:
                modifiers.append(rm)
        for shape_name in self.templates.shape_nuisances:
            if self.maps[shape_name].pyhf_name is None:
                continue
            up = scale * r.up[shape_name][j]
            dn = scale * r.down[shape_name][j]
            if np.array_equal(up, nom) and np.array_equal(dn, nom):
                continue
            data = {"hi_data": _list(up), "lo_data": _list(dn)}
            modifiers.append({"name": shape_name, "type": "histosys", "data": data})
            additive += 1
        if linear_norms and additive > 1:
            msg = (
                f"region {r.name!r}, process {pname!r}: the Gaussian rate nuisance(s) "
                f"{linear_norms} (linear factor θ) can only be exported as additive histosys, "
                "which differs from θ · (shape-varied template) at second order"
            )
            if self.exact:
                raise ConfigError(
                    msg + "; declare them prior: lognormal (exported as normsys, exactly) "
                    "or pass exact=False to accept the approximation"
                )
            # stacklevel 4: the caller of to_pyhf (to_pyhf -> channels -> _sample)
            warnings.warn(msg, PyhfApproximationWarning, stacklevel=4)
            self.notes.append(msg)
        if self.likelihood.staterror:
            modifiers.append({"name": f"staterror_{r.name}", "type": "staterror",
                              "data": _list(scale * np.sqrt(r.sumw2[j]))})  # fmt: skip
        return {"name": pname, "data": _list(nom), "modifiers": modifiers}

    def add_staterror_parameters(self) -> None:
        """The γ of every bin: identity-mapped pyhf staterror parameters."""
        for r in self.templates.regions:
            for i_bin in range(r.n_bins):
                name = f"staterror_{r.name}[{i_bin}]"
                self.maps[name] = ParameterMap(name, name, "identity", 1.0)


def _list(a: npt.ArrayLike) -> list[float]:
    return [float(v) for v in np.asarray(a, dtype=np.float64)]


@dataclass(frozen=True)
class PyhfFitResult:
    """pyhf's own MLE of an exported workspace, mapped back to the model's parameters.

    Attributes
    ----------
    values, errors
        Best fit and HESSE uncertainty per model parameter, natural units (the
        uncertainty of a ``log``-mapped parameter to first order).
    pyhf_values, pyhf_errors
        The same in pyhf's own parameters (α for histosys / normsys).
    twice_nll
        pyhf's objective -2 ln L at the minimum (with its constants).
    """

    values: dict[str, float]
    errors: dict[str, float]
    pyhf_values: dict[str, float]
    pyhf_errors: dict[str, float]
    twice_nll: float

    def __repr__(self) -> str:
        rows = [f"  {n:<20}{v:>14.6g}{self.errors[n]:>12.4g}" for n, v in self.values.items()]
        return "\n".join([f"PyhfFitResult(-2 ln L = {self.twice_nll:.8g})", *rows])


@contextmanager
def _numpy_minuit(tolerance: float | None, strategy: int | None) -> Iterator[None]:
    """pyhf's numpy backend with the minuit optimizer, restoring the previous backend after."""
    import pyhf

    previous = pyhf.get_backend()
    kwargs: dict[str, Any] = {}
    if tolerance is not None:
        kwargs["tolerance"] = tolerance
    if strategy is not None:
        kwargs["strategy"] = strategy
    pyhf.set_backend("numpy", pyhf.optimize.minuit_optimizer(**kwargs))
    try:
        yield
    finally:
        pyhf.set_backend(*previous)


def pyhf_fit(
    export: PyhfExport,
    *,
    tolerance: float | None = None,
    strategy: int | None = None,
) -> PyhfFitResult:
    """Run pyhf's own MLE (numpy backend, minuit optimizer, HESSE uncertainties) on an export.

    Parameters
    ----------
    export
        The exported workspace (:func:`to_pyhf`).
    tolerance, strategy
        Passed to :class:`pyhf.optimize.minuit_optimizer` (default: pyhf's, 0.1 and
        strategy 1 for the numpy backend).

    Returns
    -------
    PyhfFitResult
    """
    import pyhf

    model = export.model()
    data = export.data(model)
    with _numpy_minuit(tolerance, strategy):
        try:
            res, twice_nll = pyhf.infer.mle.fit(
                data, model, return_uncertainties=True, return_fitted_val=True
            )
        except pyhf.exceptions.FailedMinimization as exc:
            raise FitError(f"pyhf's fit failed: {exc}") from None
    res = np.asarray(res, dtype=np.float64)
    names = list(model.config.par_names)
    pv = {n: float(res[i, 0]) for i, n in enumerate(names)}
    pe = {n: float(res[i, 1]) for i, n in enumerate(names)}
    values, errors = {}, {}
    for m in export.parameters:
        if m.pyhf_name is None:
            values[m.name], errors[m.name] = m.nominal, 0.0
            continue
        x = pv[m.pyhf_name]
        values[m.name] = m.to_natural(x)
        errors[m.name] = m.error_to_natural(x, pe[m.pyhf_name])
    return PyhfFitResult(values, errors, pv, pe, float(twice_nll))
