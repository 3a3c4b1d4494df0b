r"""A generator-level toy with detector smearing for learned unfoldable observables.

Modelled on the pseudoscalar ("toponium", η_t) excess at the tt̄ production
threshold (CMS, dilepton tt̄; the Optimal Observable Machine of Mohr et al.,
arXiv:2601.08813, uses this measurement as its application).  Two generator-level
features per event, x_gen = (m, c): the pair mass m (GeV) and a spin-correlation
angle c = cos φ ∈ [-1, 1]:

* **continuum tt̄** (expected ``n_continuum`` generated events):
  m = 2 m_t + E, E ~ Gamma(2.2, 70 GeV); c ~ (1 + a(m) c)/2 with
  a(m) = -0.25 + 0.5 (1 - exp(-(m - 2 m_t)/200 GeV)) (singlet-like near
  threshold, triplet-like above);
* **pseudoscalar signal** (θ · ``n_signal``, θ the parameter of interest):
  m ~ N(343 GeV, 4 GeV) (a bound state just below threshold) smeared like the
  continuum, c ~ (1 - c)/2 (a pure spin singlet);
* **background** (reco level only, ``n_background`` selected events, a
  normalisation nuisance of relative width ``background_width``):
  m = 250 GeV + Gamma(2, 90 GeV), c uniform.

Detector: an efficiency ε(m) = 0.25 + 0.2 tanh((m - 400 GeV)/150 GeV), and
reconstructed m_r = m (1 + ``mass_resolution`` z₁)(1 + ``scale_width`` η) with an
energy-scale nuisance η ~ N(0, 1), c_r = tanh(atanh(0.98 c) + ``cos_resolution`` z₂).
The same z₁, z₂ are kept for the varied samples η = ±1, so that nominal and
varied reconstruction are the same events.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from unbinned.exceptions import ConfigError

__all__ = ["GenRecoEvents", "ThresholdToy"]

FloatArray = npt.NDArray[np.float64]
_MT2 = 345.0


@dataclass(frozen=True, eq=False)
class GenRecoEvents:
    """Generator-level events with their reconstruction, and reco-only background.

    Attributes
    ----------
    x_gen
        (N, 2) generator-level (m, c) of the truth processes (continuum and signal).
    x_reco, x_reco_up, x_reco_down
        (N, 2) reconstructed (m, c) at η = 0, +1, -1 (rows of unselected events
        hold the unsmeared values and must be masked with ``selected``).
    selected
        (N,) whether the event passes the detector selection.
    weights
        (N,) expected yield per event (signal at θ = 1).
    component
        (N,) 0 for continuum, 1 for signal.
    bkg_reco, bkg_reco_up, bkg_reco_down
        (M, 2) background events (reco level) at η = 0, ±1.
    bkg_weights
        (M,) their expected yields.
    """

    x_gen: FloatArray
    x_reco: FloatArray
    x_reco_up: FloatArray
    x_reco_down: FloatArray
    selected: npt.NDArray[np.bool_]
    weights: FloatArray
    component: npt.NDArray[np.int64]
    bkg_reco: FloatArray
    bkg_reco_up: FloatArray
    bkg_reco_down: FloatArray
    bkg_weights: FloatArray

    def __len__(self) -> int:
        return int(self.x_gen.shape[0])

    def __repr__(self) -> str:
        n_sig = int(np.sum(self.component == 1))
        return (
            f"GenRecoEvents({len(self)} truth events ({n_sig} signal, "
            f"{int(self.selected.sum())} selected), {self.bkg_weights.size} background)"
        )


@dataclass(frozen=True)
class ThresholdToy:
    """The tt̄-threshold-like toy (see the module docstring).

    Parameters
    ----------
    n_continuum
        Expected generated continuum events.
    n_signal
        Expected generated signal events at θ = 1.
    n_background
        Expected selected background events.
    mass_resolution, cos_resolution
        Detector smearing of m (relative) and of atanh(c).
    scale_width
        Relative energy scale shift of m_r per unit of the nuisance η.
    background_width
        Relative 1σ width of the background normalisation.

    Examples
    --------
    >>> ev = ThresholdToy().generate(1000, seed=1)
    >>> ev.x_gen.shape
    (2000, 2)
    """

    n_continuum: float = 100_000.0
    n_signal: float = 4_000.0
    n_background: float = 8_000.0
    mass_resolution: float = 0.10
    cos_resolution: float = 0.35
    scale_width: float = 0.02
    background_width: float = 0.1

    def __post_init__(self) -> None:
        for name in ("n_continuum", "n_signal", "n_background", "mass_resolution",
                     "cos_resolution", "scale_width", "background_width"):  # fmt: skip
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ConfigError(f"{name} = {v!r}: expected a positive number")

    def efficiency(self, m: FloatArray) -> FloatArray:
        """Selection efficiency ε(m) of a truth event of generator-level mass m."""
        return np.asarray(0.25 + 0.2 * np.tanh((m - 400.0) / 150.0), dtype=np.float64)

    def generate(self, n_per_process: int, seed: int = 0) -> GenRecoEvents:
        """Draw ``n_per_process`` continuum, signal and background events.

        Truth-event weights are the expected generated yields (signal at θ = 1)
        divided by the number drawn; background weights the expected selected yield.
        """
        if isinstance(n_per_process, bool) or not isinstance(n_per_process, int):
            raise TypeError(f"n_per_process must be an int, got {type(n_per_process).__name__}")
        if n_per_process < 1:
            raise ConfigError(f"n_per_process = {n_per_process}: expected >= 1")
        n = n_per_process
        rng = np.random.default_rng(seed)
        # continuum
        m_c = _MT2 + rng.gamma(2.2, 70.0, n)
        a = -0.25 + 0.5 * (1.0 - np.exp(-(m_c - _MT2) / 200.0))
        c_c = _sample_linear_cos(rng, a)
        # signal
        m_s = rng.normal(343.0, 4.0, n)
        c_s = _sample_linear_cos(rng, np.full(n, -1.0))
        m = np.concatenate([m_c, m_s])
        c = np.concatenate([c_c, c_s])
        comp = np.concatenate([np.zeros(n, np.int64), np.ones(n, np.int64)])
        w = np.concatenate([np.full(n, self.n_continuum / n), np.full(n, self.n_signal / n)])
        sel = rng.random(2 * n) < self.efficiency(m)
        z1, z2 = rng.normal(size=2 * n), rng.normal(size=2 * n)
        x_gen = np.column_stack([m, c])
        reco = [self._reco(m, c, z1, z2, eta) for eta in (0.0, 1.0, -1.0)]
        # background (reco level)
        mb = 250.0 + rng.gamma(2.0, 90.0, n)
        cb = rng.uniform(-1.0, 1.0, n)
        bkg = [
            np.column_stack([mb * (1.0 + self.scale_width * eta), cb]) for eta in (0.0, 1.0, -1.0)
        ]
        return GenRecoEvents(
            x_gen=x_gen,
            x_reco=reco[0],
            x_reco_up=reco[1],
            x_reco_down=reco[2],
            selected=sel,
            weights=w,
            component=comp,
            bkg_reco=bkg[0],
            bkg_reco_up=bkg[1],
            bkg_reco_down=bkg[2],
            bkg_weights=np.full(n, self.n_background / n),
        )

    def _reco(
        self, m: FloatArray, c: FloatArray, z1: FloatArray, z2: FloatArray, eta: float
    ) -> FloatArray:
        m_r = m * (1.0 + self.mass_resolution * z1) * (1.0 + self.scale_width * eta)
        c_r = np.tanh(np.arctanh(0.98 * c) + self.cos_resolution * z2)
        return np.column_stack([m_r, c_r])


def _sample_linear_cos(rng: np.random.Generator, a: FloatArray) -> FloatArray:
    """Draw c ∈ [-1, 1] from (1 + a c)/2 by inverting its CDF (|a| ≤ 1)."""
    u = rng.random(a.shape)
    # CDF F(c) = (c + 1)/2 + a (c² - 1)/4; solve a c²/4 + c/2 + (1/2 - a/4 - u) = 0
    out = np.empty_like(u)
    small = np.abs(a) < 1e-9
    out[small] = 2.0 * u[small] - 1.0
    aa = a[~small]
    disc = 0.25 - aa * (0.5 - aa / 4.0 - u[~small])
    out[~small] = (-0.5 + np.sqrt(np.maximum(disc, 0.0))) / (aa / 2.0)
    return np.clip(out, -1.0, 1.0)
