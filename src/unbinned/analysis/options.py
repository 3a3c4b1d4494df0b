r"""The settings of :func:`~unbinned.analysis.build_analysis`, in three checked groups.

Each group is a frozen dataclass that validates itself when it is made, so that a
setting that needs another (``calibrate_odds`` needs ``calibrate``) fails before any
work starts, and each round-trips through plain JSON (``to_dict`` / ``from_dict``):
the analysis records them all in its metadata (:attr:`AnalysisModel.options
<unbinned.analysis.AnalysisModel.options>`).

* :class:`TemplateOptions`: the binned baseline's templates;
* :class:`IntegrationOptions`: how the integration sample is kept;
* :class:`CalibrationOptions`: the score calibration and the classifier's recalibration.

The defaults are those of :func:`~unbinned.analysis.build_analysis`.

Examples
--------
>>> CalibrationOptions(calibrate=True, calibrate_odds=True).to_dict()["calibrate_odds"]
True
>>> CalibrationOptions(calibrate_odds=True)
Traceback (most recent call last):
...
unbinned.exceptions.ConfigError: calibrate_odds needs calibrate=True (part of the score calibration)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal, TypeVar

from unbinned.exceptions import ConfigError

__all__ = [
    "AnalysisOptions",
    "CalibrationOptions",
    "IntegrationOptions",
    "TemplateOptions",
    "TemplateReach",
    "check_reach",
]

TemplateReach = Mapping[str, float] | Literal["auto"] | None
"""``template_reach``: ``"auto"``, ``{nuisance: θ_far}``, or None (±1σ templates only)."""

_T = TypeVar("_T")


def _from_dict(cls: type[_T], data: Mapping[str, Any] | None, what: str) -> _T:
    """``cls(**data)``, an unknown key named with the keys expected."""
    data = dict(data or {})
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ConfigError(f"{what}: unknown key(s) {unknown}; expected some of {names}")
    return cls(**data)


def check_reach(reach: Any) -> None:
    """Check a ``template_reach`` value's form (the nuisances are checked on the templates).

    Raises
    ------
    ConfigError
        ``reach`` is neither ``"auto"``, None nor a mapping of names to finite numbers.
    """
    if reach is None or reach == "auto":
        return
    if not isinstance(reach, Mapping):
        raise ConfigError(
            f"template_reach={reach!r}; expected 'auto', a mapping nuisance -> value or None"
        )
    for name, value in reach.items():
        if not isinstance(value, int | float) or not math.isfinite(value):
            raise ConfigError(f"template_reach[{name!r}] = {value!r}; expected a finite number")


@dataclass(frozen=True)
class TemplateOptions:
    r"""The binned baseline: the classifier's signal fraction c_sig(x) in HistFactory templates.

    Parameters
    ----------
    bins
        Bins of equal expected signal; 0 skips the binned baseline.
    powered
        Interpolate the templates of a nuisance that enters the surrogate as a power
        (soft_met²) linearly in that power, from templates at θ⁰ - σ and the point
        symmetric to it in the power (:func:`~unbinned.binned.templates.template_points`),
        instead of linearly in θ from θ⁰ ± σ.  Off by default: on the H→ττ simulator
        at full luminosity it reduces the binned fit's bias below soft_met ≈ 2 GeV but
        makes it worse above (−0.69 against −0.48 in μ above 3 GeV), where the ±1σ
        templates, 1 GeV² apart, are extrapolated to α ≈ 15 (BENCHMARKS.md).
    reach
        ``{nuisance: θ_far}``: make that nuisance's up template the secant from the
        nominal to a simulation at θ_far (:func:`~unbinned.binned.templates.with_secant_up`),
        so that far beyond +1σ the binned model interpolates to a simulated point
        instead of extrapolating the ±1σ difference and its Monte-Carlo noise.
        ``"auto"`` (default): every floating shape nuisance with a log-normal prior
        (a long upper tail) and an upper bound beyond its up template reaches to that
        bound; on the H→ττ simulator at full luminosity (soft_met to 5 GeV) this takes
        the binned fit's bias slope from −0.13 to 0.00 per GeV of true soft_met and its
        pull width from 1.39 to 1.17 (BENCHMARKS.md, 1000 pseudo-experiments).
        None: ±1σ templates only.
    """

    bins: int = 10
    powered: bool = False
    reach: TemplateReach = "auto"

    def __post_init__(self) -> None:
        if not isinstance(self.bins, int) or self.bins < 0:
            raise ConfigError(
                f"bins={self.bins!r}; expected a non-negative integer (0: no binned baseline)"
            )
        check_reach(self.reach)
        if isinstance(self.reach, Mapping):
            object.__setattr__(self, "reach", {str(k): v for k, v in self.reach.items()})

    def to_dict(self) -> dict[str, Any]:
        """JSON form (``reach`` a dict, ``"auto"`` or None)."""
        reach = dict(self.reach) if isinstance(self.reach, Mapping) else self.reach
        return {"bins": self.bins, "powered": self.powered, "reach": reach}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> TemplateOptions:
        """Inverse of :meth:`to_dict` (missing keys: the defaults)."""
        return _from_dict(cls, data, "template options")


@dataclass(frozen=True)
class IntegrationOptions:
    """How the nominal reference sample the learned densities are integrated over is kept.

    Parameters
    ----------
    mode
        ``"events"``: keep the per-event tensors of the nominal reference sample;
        ``"moments"``: keep their fourth-order moments (:mod:`unbinned.likelihood.moments`;
        the fit's cost no longer grows with the reference sample, which can then be
        made much larger than the data) and a ``keep`` fraction of the events (for
        Asimov datasets).  The measured truncation error is in the metadata.
    keep
        Fraction of the reference events kept alongside the moments.
    """

    mode: Literal["events", "moments"] = "events"
    keep: float = 0.05

    def __post_init__(self) -> None:
        if self.mode not in ("events", "moments"):
            raise ConfigError(f"integration={self.mode!r}; expected 'events' or 'moments'")
        if not isinstance(self.keep, int | float) or not 0.0 <= self.keep <= 1.0:
            raise ConfigError(f"keep={self.keep!r}; expected a fraction in [0, 1]")

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> IntegrationOptions:
        """Inverse of :meth:`to_dict` (missing keys: the defaults)."""
        return _from_dict(cls, data, "integration options")


@dataclass(frozen=True)
class CalibrationOptions:
    r"""The calibrations fitted to the reference sample before anything else uses the surrogate.

    Parameters
    ----------
    calibrate
        Fit the score calibration of the responses (:mod:`unbinned.ml.calibration`)
        to the reference.
    calibrate_odds
        With ``calibrate``, also calibrate the signal fraction's odds per score bin on
        the whole nominal reference (``odds=True`` of
        :func:`~unbinned.ml.calibration.fit_score_calibration`): a local correction
        where the global one above leaves the signal-like bins off by 5–10 % on the
        H→ττ simulator (BENCHMARKS.md).  Its Monte-Carlo error is that of the
        reference's background in those bins.
    calibration_events
        Generated events per process the calibration uses (None: all of the
        reference's).  Its Monte-Carlo error is common to every measurement, so in
        the signal-like bins it must be well below the data's statistical error.
    recalibrate_classifier
        Refit the classifier's bias-corrected temperature scaling
        (:func:`unbinned.ml.classifier.calibrate`) on the nominal reference sample
        before anything else uses its fractions: True, False, or ``"auto"`` (the
        default): True when the reference is independent of the training (the
        ``reference_independent`` of :func:`~unbinned.analysis.build_analysis`;
        :func:`~unbinned.analysis.train_analysis` sets it when it is given a
        separate ``reference``) and the health check has other independent events
        (a ``health_source``, or a fresh simulation: the reference can simulate; or
        the check is off), False otherwise (calibrating on the networks' own
        training events would make them look better than they are, and a reference
        calibrated on is no honest check of the calibration).  Why it is the
        default: the temperature fitted on the training's 20 % calibration split is
        the largest single source of the learned likelihood's error in its
        information.  On the resonance oracle (50 k events per process, the
        library's classifier), four training seeds claimed 1.034, 0.930, 1.029 and
        1.025 times the exact stat-only information of μ with their own split's
        calibration, and 1.014, 1.017, 1.037, 1.018 with it refitted on the
        independent 100 k-per-process reference (1.02–1.05 on 300 k): the seed's
        spread drops from ±5 % to ±1 % (BENCHMARKS.md, "Learned vs exact
        likelihood").  At the fit's minimum
        :math:`\sum_i w_i c_p(x_i) = \sum_{i \in p} w_i` for every process, so the
        model's expected nominal yields (the integral of the fractions) equal the
        reference's, to the Monte-Carlo precision of that sample.  The training's own
        calibration split is small (20 % of the training's nominal events), and the
        signal's sum there carries the Monte-Carlo error of the few background events
        in the signal-like region: on the H→ττ simulator with 300 k events per process
        its fractions integrated to 1036 signal events on an independent sample of
        19 M, against 1015 simulated (+2.1 %).
    """

    calibrate: bool = False
    calibrate_odds: bool = False
    calibration_events: int | None = 300_000
    recalibrate_classifier: bool | Literal["auto"] = "auto"

    def __post_init__(self) -> None:
        r = self.recalibrate_classifier
        if r not in (True, False, "auto") or not isinstance(r, bool | str):
            raise ConfigError(
                f"recalibrate_classifier={r!r}; expected true, false or 'auto' (recalibrate "
                "when the reference is independent of the training)"
            )
        if self.calibrate_odds and not self.calibrate:
            raise ConfigError("calibrate_odds needs calibrate=True (part of the score calibration)")
        n = self.calibration_events
        if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 1):
            raise ConfigError(
                f"calibration_events={n!r}; expected a positive integer or None (all events)"
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> CalibrationOptions:
        """Inverse of :meth:`to_dict` (missing keys: the defaults)."""
        return _from_dict(cls, data, "calibration options")


@dataclass(frozen=True)
class AnalysisOptions:
    """Every option group of an analysis, as its metadata records them (``"options"``)."""

    templates: TemplateOptions = field(default_factory=TemplateOptions)
    integration: IntegrationOptions = field(default_factory=IntegrationOptions)
    calibration: CalibrationOptions = field(default_factory=CalibrationOptions)

    def to_dict(self) -> dict[str, Any]:
        """JSON form: one entry per group."""
        return {
            "templates": self.templates.to_dict(),
            "integration": self.integration.to_dict(),
            "calibration": self.calibration.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> AnalysisOptions:
        """Inverse of :meth:`to_dict` (a missing group: its defaults)."""
        data = dict(data or {})
        unknown = sorted(set(data) - {"templates", "integration", "calibration"})
        if unknown:
            raise ConfigError(
                f"analysis options: unknown group(s) {unknown}; expected templates, "
                "integration, calibration"
            )
        return cls(
            TemplateOptions.from_dict(data.get("templates")),
            IntegrationOptions.from_dict(data.get("integration")),
            CalibrationOptions.from_dict(data.get("calibration")),
        )

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any]) -> AnalysisOptions:
        """The options an analysis's metadata records.

        Files written before the options were recorded have none: the settings their
        metadata does record (``bins``, ``integration``, ``score_calibration``,
        ``classifier_recalibrated_events``) are read, the others take their defaults.
        """
        if "options" in metadata:
            return cls.from_dict(metadata["options"])
        return cls(
            TemplateOptions(bins=int(metadata.get("bins", 10))),
            IntegrationOptions(mode=metadata.get("integration", "events")),
            CalibrationOptions(
                calibrate=bool(metadata.get("score_calibration", False)),
                recalibrate_classifier=int(metadata.get("classifier_recalibrated_events", 0)) > 0,
            ),
        )
