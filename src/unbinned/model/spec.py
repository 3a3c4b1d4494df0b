"""The declaration of a statistical model: parameters, processes and regions.

A model is declared once, in Python or in YAML, and validated with pydantic so
that an error names the offending key and the value expected there::

    pois:
      - {name: mu, init: 1.0, bounds: [0.0, 10.0]}
    nuisances:
      - {name: tes, nominal: 1.0, prior: gaussian, width: 0.01, bounds: [0.9, 1.1], acts_on: shape}
      - {name: ttbar_scale, nominal: 1.0, prior: gaussian, width: 0.02, bounds: [0.8, 1.2]}
    processes:
      - {name: htautau, signal: true, modifiers: [{parameter: mu}]}
      - {name: ttbar, modifiers: [{parameter: ttbar_scale}]}
    regions:
      - {name: inclusive, kind: unbinned}

Conventions (DESIGN.md §3): every parameter is in natural units (a scale factor
of 1 is nominal); a *rate* nuisance multiplies the rates of the processes whose
``modifiers`` name it, a *shape* nuisance enters through the learned response
R_p(x|ν) of the region's surrogate.  Priors enter q = -2 ln L as penalties:

* ``gaussian``: ((θ - nominal) / width)²
* ``lognormal``: (ln(θ / nominal) / width)²  (auxiliary-measurement form, θ > 0)
* ``uniform``: no penalty; the bounds are required
* ``free``: no penalty (e.g. an unconstrained normalisation)
* ``fixed``: held at ``nominal``; not fitted
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from unbinned.exceptions import ConfigError

__all__ = [
    "POI",
    "ModelSpec",
    "Modifier",
    "Nuisance",
    "Process",
    "Region",
    "format_validation_error",
]

PriorKind = Literal["gaussian", "lognormal", "uniform", "free", "fixed"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class POI(_Strict):
    """A parameter of interest (e.g. a signal strength), unconstrained."""

    name: str = Field(min_length=1)
    init: float = 1.0
    bounds: tuple[float, float] | None = None

    @model_validator(mode="after")
    def _check(self) -> POI:
        _check_bounds(self.name, self.init, self.bounds)
        return self


class Nuisance(_Strict):
    """A nuisance parameter with its prior.

    ``acts_on='rate'`` nuisances modify process rates through the processes'
    ``modifiers``; ``acts_on='shape'`` nuisances feed the learned response of
    the region surrogates (their name must match a surrogate input).
    """

    name: str = Field(min_length=1)
    nominal: float = 0.0
    prior: PriorKind = "gaussian"
    width: float | None = None
    bounds: tuple[float, float] | None = None
    acts_on: Literal["rate", "shape"] = "rate"

    @model_validator(mode="after")
    def _check(self) -> Nuisance:
        if self.prior in ("gaussian", "lognormal") and (self.width is None or self.width <= 0):
            raise ValueError(
                f"nuisance {self.name!r}: a {self.prior} prior needs a positive 'width', "
                f"got {self.width!r}"
            )
        if self.prior == "uniform" and self.bounds is None:
            raise ValueError(f"nuisance {self.name!r}: a uniform prior needs 'bounds: [lo, hi]'")
        if self.prior == "lognormal" and self.nominal <= 0:
            raise ValueError(
                f"nuisance {self.name!r}: a lognormal prior needs a positive 'nominal', "
                f"got {self.nominal}"
            )
        _check_bounds(self.name, self.nominal, self.bounds)
        return self

    @property
    def floating(self) -> bool:
        """Whether the parameter is fitted (every prior except ``fixed``)."""
        return self.prior != "fixed"


class Modifier(_Strict):
    """A rate modifier of a process: the rate is multiplied by a parameter.

    ``kind='normfactor'`` multiplies by the parameter value θ;
    ``kind='lognormal'`` multiplies by κ^θ (θ a standard-normal nuisance).
    """

    parameter: str = Field(min_length=1)
    kind: Literal["normfactor", "lognormal"] = "normfactor"
    kappa: float | None = None

    @model_validator(mode="after")
    def _check(self) -> Modifier:
        if self.kind == "lognormal" and (self.kappa is None or self.kappa <= 0):
            raise ValueError(f"modifier on {self.parameter!r}: kind 'lognormal' needs kappa > 0")
        return self


class Process(_Strict):
    """A physics process of the model (signal or background) and its rate modifiers."""

    name: str = Field(min_length=1)
    signal: bool = False
    modifiers: tuple[Modifier, ...] = ()


class Region(_Strict):
    """A region: a selection on features, fitted unbinned or as a single count.

    ``selection`` is a pandas query string over feature columns
    (e.g. ``"PRI_n_jets >= 2"``); empty means every event.
    """

    name: str = Field(min_length=1)
    kind: Literal["unbinned", "counting"] = "unbinned"
    selection: str = ""


class ModelSpec(_Strict):
    """The whole declaration: parameters of interest, nuisances, processes and regions."""

    pois: tuple[POI, ...] = Field(min_length=1)
    nuisances: tuple[Nuisance, ...] = ()
    processes: tuple[Process, ...] = Field(min_length=1)
    regions: tuple[Region, ...] = (Region(name="inclusive"),)

    @model_validator(mode="after")
    def _check(self) -> ModelSpec:
        names = [p.name for p in self.pois] + [n.name for n in self.nuisances]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"parameter name(s) {dup} declared more than once")
        for group, items in (("processes", self.processes), ("regions", self.regions)):
            seen = [i.name for i in items]
            dup = sorted({n for n in seen if seen.count(n) > 1})
            if dup:
                raise ValueError(f"{group}: name(s) {dup} declared more than once")
        known = set(names)
        for proc in self.processes:
            for mod in proc.modifiers:
                if mod.parameter not in known:
                    raise ValueError(
                        f"process {proc.name!r}: modifier parameter {mod.parameter!r} is not "
                        f"declared; declared parameters are {sorted(known)}"
                    )
        rate = {n.name for n in self.nuisances if n.acts_on == "rate"}
        used = {m.parameter for p in self.processes for m in p.modifiers}
        unused = sorted(rate - used)
        if unused:
            raise ValueError(
                f"rate nuisance(s) {unused} modify no process; add them to a process's "
                "'modifiers' or declare acts_on: shape"
            )
        return self

    # ---------------------------------------------------------------- helpers
    @property
    def parameter_names(self) -> tuple[str, ...]:
        """All parameters: the POIs first, then the nuisances, in declaration order."""
        return tuple(p.name for p in self.pois) + tuple(n.name for n in self.nuisances)

    @property
    def poi_names(self) -> tuple[str, ...]:
        """Names of the parameters of interest."""
        return tuple(p.name for p in self.pois)

    @property
    def shape_nuisances(self) -> tuple[Nuisance, ...]:
        """The nuisances that act through the learned response."""
        return tuple(n for n in self.nuisances if n.acts_on == "shape")

    @property
    def process_names(self) -> tuple[str, ...]:
        """Names of the processes in declaration order."""
        return tuple(p.name for p in self.processes)

    def nuisance(self, name: str) -> Nuisance:
        """The nuisance called ``name``."""
        for n in self.nuisances:
            if n.name == name:
                return n
        raise ConfigError(f"no nuisance {name!r}; declared: {[n.name for n in self.nuisances]}")

    def init_values(self) -> dict[str, float]:
        """Starting values: POI ``init`` and nuisance ``nominal``."""
        out = {p.name: p.init for p in self.pois}
        out.update({n.name: n.nominal for n in self.nuisances})
        return out

    def bounds(self) -> dict[str, tuple[float, float] | None]:
        """Declared bounds per parameter (``None`` where unbounded)."""
        out: dict[str, tuple[float, float] | None] = {p.name: p.bounds for p in self.pois}
        for n in self.nuisances:
            b = n.bounds
            if b is None and n.prior == "lognormal":
                b = (0.0, float("inf"))
            out[n.name] = b
        return out

    # ---------------------------------------------------------------- I/O
    @classmethod
    def from_dict(cls, data: Any) -> ModelSpec:
        """Validate a mapping (e.g. parsed YAML); errors name the offending key."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(format_validation_error(exc, "model")) from None

    @classmethod
    def from_yaml(cls, path: str | Path) -> ModelSpec:
        """Read a declaration from a YAML file."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no model file {str(path)!r}")
        return cls.from_yaml_string(path.read_text(encoding="utf-8"))

    @classmethod
    def from_yaml_string(cls, text: str) -> ModelSpec:
        """Read a declaration from YAML text."""
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"model YAML is not valid YAML: {exc}") from None
        return cls.from_dict(data)

    def to_yaml(self) -> str:
        """The declaration as YAML (round-trips through :meth:`from_yaml`)."""
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


def _check_bounds(name: str, value: float, bounds: tuple[float, float] | None) -> None:
    if bounds is None:
        return
    lo, hi = bounds
    if not lo < hi:
        raise ValueError(f"parameter {name!r}: bounds [{lo}, {hi}] are empty; need lo < hi")
    if not lo <= value <= hi:
        raise ValueError(f"parameter {name!r}: start value {value} is outside bounds [{lo}, {hi}]")


def format_validation_error(exc: ValidationError, what: str) -> str:
    """One readable line per problem: ``key.path: message (got value)``."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "<top level>"
        msg = err["msg"].removeprefix("Value error, ")
        got = err.get("input")
        shown = "" if isinstance(got, dict | list) else f" (got {got!r})"
        lines.append(f"{loc}: {msg}{shown}")
    return f"invalid {what} declaration: " + "; ".join(lines)
