"""The reference scheme for theory uncertainties, and LO→NLO pulls.

Scale variation underestimates the uncertainty of processes with no QCD vertex at
leading order (e.g. electroweak multiboson production).  The reference scheme of Ghosh,
Nachman, Plehn, Shire, Tait, Whiteson, "Statistical patterns of theory uncertainties",
arXiv:2210.15167 assigns to any process with n final-state particles

    Δσ±_ref = n · δ±_ref · σ0,     δ±_ref = ⟨Δσ±/(n σ0)⟩ over pure-QCD processes,

the per-particle relative scale uncertainty averaged over processes with only QCD
particles in the final state (their Table 1, 13 TeV, MadGraph5_aMC@NLO:
δ+ = 14.7 %, δ- = 9.34 %).  The quality of an uncertainty is judged by the pull of the
NLO cross section, t = (σ_NLO - σ_LO)/Δσ, with Δσ = Δσ+ for an upward shift and Δσ-
for a downward one: for a sensible estimate |t| is of order 1, and the fraction of
outliers (|t| > 2) is small.  The tables are package data with their sources
(:func:`unbinned.theory.table_source`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from unbinned.exceptions import ConfigError, DataError
from unbinned.theory._data import load_table, table_source

__all__ = [
    "PullTable",
    "ReferenceUncertainty",
    "lo_nlo_pulls",
    "outlier_fraction",
    "per_particle_reference",
    "pull",
    "reference_uncertainty",
]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ReferenceUncertainty:
    """Per-final-state-particle relative uncertainty δ±_ref.

    Attributes
    ----------
    delta_up, delta_down
        δ+ and δ- (positive fractions).
    processes
        The pure-QCD processes averaged over.
    source
        Citation of the input table.
    """

    delta_up: float
    delta_down: float
    processes: tuple[str, ...]
    source: str

    def __repr__(self) -> str:
        return (
            f"ReferenceUncertainty(delta_up=+{100 * self.delta_up:.3g}%, "
            f"delta_down=-{100 * self.delta_down:.3g}%, n_processes={len(self.processes)})"
        )

    def relative(self, n_particles: int) -> tuple[float, float]:
        """(Δσ+/σ0, Δσ-/σ0) = (n δ+, n δ-) for a process with n final-state particles."""
        n = _check_n(n_particles)
        return n * self.delta_up, n * self.delta_down


def _check_n(n_particles: int) -> int:
    if isinstance(n_particles, bool) or not isinstance(n_particles, int | np.integer):
        raise TypeError(
            f"n_particles must be an int (the number of final-state particles), got "
            f"{type(n_particles).__name__}"
        )
    if n_particles < 1:
        raise ConfigError(f"n_particles must be >= 1, got {n_particles}")
    return int(n_particles)


def per_particle_reference(table: pd.DataFrame | None = None) -> ReferenceUncertainty:
    """δ±_ref = mean over pure-QCD processes of (Δσ±/σ0)/n.

    Parameters
    ----------
    table
        Columns ``process, n_particles, rel_up, rel_down``; default: the packaged
        MadGraph5_aMC@NLO table of arXiv:2210.15167.

    Returns
    -------
    ReferenceUncertainty
        δ+ ≈ 0.147 and δ- ≈ 0.0934 for the packaged table.

    Examples
    --------
    >>> ref = per_particle_reference()
    >>> round(ref.delta_up, 3), round(ref.delta_down, 4)
    (0.147, 0.0934)
    """
    frame = load_table("qcd_reference_processes") if table is None else table
    source = table_source("qcd_reference_processes") if table is None else "user table"
    for col in ("process", "n_particles", "rel_up", "rel_down"):
        if col not in frame.columns:
            raise DataError(f"the QCD reference table lacks the column {col!r}")
    if len(frame) == 0:
        raise DataError("the QCD reference table is empty")
    n = frame["n_particles"].to_numpy(dtype=np.float64)
    if np.any(n < 1):
        raise DataError("n_particles must be >= 1 in every row of the QCD reference table")
    return ReferenceUncertainty(
        delta_up=float(np.mean(frame["rel_up"].to_numpy(dtype=np.float64) / n)),
        delta_down=float(np.mean(frame["rel_down"].to_numpy(dtype=np.float64) / n)),
        processes=tuple(str(p) for p in frame["process"]),
        source=source,
    )


def reference_uncertainty(
    n_particles: int, sigma0: float = 1.0, reference: ReferenceUncertainty | None = None
) -> tuple[float, float]:
    """Δσ±_ref = n δ±_ref σ0 for any process with n final-state particles.

    Returns
    -------
    tuple of float
        (Δσ+, Δσ-), both positive, in the units of ``sigma0``.
    """
    ref = reference or per_particle_reference()
    up, down = ref.relative(n_particles)
    return up * float(sigma0), down * float(sigma0)


def pull(
    sigma_nlo: npt.ArrayLike,
    sigma_lo: npt.ArrayLike,
    delta_up: npt.ArrayLike,
    delta_down: npt.ArrayLike,
) -> FloatArray:
    """t = (σ_NLO - σ_LO)/Δσ, with Δσ = Δσ+ for an upward and Δσ- for a downward shift."""
    nlo = np.asarray(sigma_nlo, dtype=np.float64)
    lo = np.asarray(sigma_lo, dtype=np.float64)
    up = np.asarray(delta_up, dtype=np.float64)
    down = np.asarray(delta_down, dtype=np.float64)
    if np.any(up <= 0) or np.any(down <= 0):
        raise DataError("the uncertainties Δσ+ and Δσ- must be > 0")
    shift = nlo - lo
    return np.asarray(np.where(shift >= 0, shift / up, shift / down), dtype=np.float64)


def outlier_fraction(pulls: npt.ArrayLike, threshold: float = 2.0) -> float:
    """Fraction of pulls with |t| > ``threshold``."""
    t = np.asarray(pulls, dtype=np.float64)
    if t.size == 0:
        raise DataError("no pulls given")
    return float(np.mean(np.abs(t) > threshold))


@dataclass(frozen=True, repr=False)
class PullTable:
    """LO→NLO pulls of LHC processes under the scale and the reference scheme.

    Attributes
    ----------
    processes, n_particles
        Process names and numbers of final-state particles.
    nlo_shift
        (σ_NLO - σ_LO)/σ_LO.
    rel_scale, pull_scale
        Δσ/σ0 from LO scale variation and the pull in that scheme.
    rel_ref, pull_ref
        n δ+_ref and the pull in the reference scheme.
    quoted_pull_scale, quoted_pull_ref
        The pulls as printed in the source (for comparison).
    source
        Citation of the input table.
    """

    processes: tuple[str, ...]
    n_particles: npt.NDArray[np.int64]
    nlo_shift: FloatArray
    rel_scale: FloatArray
    pull_scale: FloatArray
    rel_ref: FloatArray
    pull_ref: FloatArray
    quoted_pull_scale: FloatArray
    quoted_pull_ref: FloatArray
    source: str

    def __repr__(self) -> str:
        return (
            f"PullTable(n_processes={len(self.processes)}, outliers |t|>2: "
            f"scale {self.outlier_fraction('scale'):.2f}, "
            f"reference {self.outlier_fraction('reference'):.2f})"
        )

    def pulls(self, scheme: str) -> FloatArray:
        """The pulls of ``scheme`` (``"scale"`` or ``"reference"``)."""
        if scheme == "scale":
            return self.pull_scale
        if scheme == "reference":
            return self.pull_ref
        raise ConfigError(f"scheme must be 'scale' or 'reference', got {scheme!r}")

    def outlier_fraction(self, scheme: str, threshold: float = 2.0) -> float:
        """Fraction of processes with |t| > ``threshold`` under ``scheme``."""
        return outlier_fraction(self.pulls(scheme), threshold)

    def to_frame(self) -> pd.DataFrame:
        """The table as a pandas DataFrame."""
        return pd.DataFrame(
            {
                "process": list(self.processes),
                "n_particles": self.n_particles,
                "nlo_shift": self.nlo_shift,
                "rel_scale": self.rel_scale,
                "pull_scale": self.pull_scale,
                "rel_ref": self.rel_ref,
                "pull_ref": self.pull_ref,
                "quoted_pull_scale": self.quoted_pull_scale,
                "quoted_pull_ref": self.quoted_pull_ref,
            }
        )

    def _repr_html_(self) -> str:
        return str(self.to_frame().to_html(index=False, float_format=lambda v: f"{v:.3g}"))


def lo_nlo_pulls(
    reference: ReferenceUncertainty | None = None,
    *,
    processes: Sequence[str] | None = None,
) -> PullTable:
    """Pulls of the packaged LHC processes under both schemes.

    The source quotes, per process, Δσ/σ0 from LO scale variation and the pull in that
    scheme; the NLO shift follows as (σ_NLO - σ_LO)/σ_LO = t_scale · Δσ/σ0, and the
    reference-scheme pull is recomputed from it with Δσ+_ref/σ0 = n δ+_ref (every NLO
    shift in the table is upward).

    Parameters
    ----------
    reference
        δ±_ref; default: :func:`per_particle_reference` of the packaged QCD table.
    processes
        Restrict to these processes (names as in the table).

    Returns
    -------
    PullTable
        Both schemes' pulls, with the quoted ones for comparison.
    """
    ref = reference or per_particle_reference()
    frame = load_table("lo_nlo_pulls")
    if processes is not None:
        unknown = sorted(set(processes) - set(frame["process"]))
        if unknown:
            raise DataError(f"unknown processes {unknown}; available: {list(frame['process'])}")
        frame = frame[frame["process"].isin(list(processes))]
    n = frame["n_particles"].to_numpy(dtype=np.int64)
    rel_scale = frame["rel_scale_unc"].to_numpy(dtype=np.float64)
    quoted_scale = frame["pull_scale"].to_numpy(dtype=np.float64)
    shift = quoted_scale * rel_scale
    rel_ref_up = n * ref.delta_up
    rel_ref_down = n * ref.delta_down
    pull_ref = pull(1.0 + shift, 1.0, rel_ref_up, rel_ref_down)
    pull_scale = pull(1.0 + shift, 1.0, rel_scale, rel_scale)
    return PullTable(
        processes=tuple(str(p) for p in frame["process"]),
        n_particles=n,
        nlo_shift=shift,
        rel_scale=rel_scale,
        pull_scale=pull_scale,
        rel_ref=rel_ref_up,
        pull_ref=pull_ref,
        quoted_pull_scale=quoted_scale,
        quoted_pull_ref=frame["pull_ref"].to_numpy(dtype=np.float64),
        source=table_source("lo_nlo_pulls"),
    )
