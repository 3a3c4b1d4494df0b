r"""The parametrised systematic response of one process: R_p(x|ν) = Y_p(ν) exp(Δ_p(x)·φ(ν)).

Training (DESIGN.md §3): at variation points ν_k the same generated events are
simulated nominally and varied (a :class:`~unbinned.ml.sources.VariationSource`).
The network Δ_p(x), one output per monomial of ν, minimises the weighted
cross-entropy between nominal and varied events with logit
:math:`s_k(x) = \Delta_p(x)\cdot\varphi(\nu_k)`,

.. math::

    L = \frac{1}{K}\sum_k \Big[\sum_{i\in\mathrm{nom}} \tilde w_i\,
        \mathrm{softplus}(s_k(x_i)) + \sum_{j\in\mathrm{var}_k} \tilde w_j\,
        \mathrm{softplus}(-s_k(x_j))\Big],

with the weights of each sample normalised to unit sum (the varied ones thus
divided by Y_p(ν_k)).  The minimiser is the shape-only log density ratio
:math:`\ln[d\sigma_p(x|\nu_k)/Y_p(\nu_k)\,/\,d\sigma_p(x|0)]` at every ν_k
(the likelihood-ratio trick: Cranmer, Pavez & Louppe, "Approximating likelihood
ratios with calibrated discriminative classifiers", arXiv:1506.02169; a network
output that is polynomial in the parameters as in Brehmer, Cranmer, Louppe &
Pavez, arXiv:1805.00020).  The yield part ln Y_p(ν) is fitted separately to
ln(Σ w_varied / Σ w_nominal) at the design points, by default with
:class:`~unbinned.ml.yields.PolynomialYieldModel` (any ``YieldModel``, e.g. the
Gaussian process of :mod:`unbinned.response`, may replace it).

Memory: at most ``max_events`` generated events of the process are used (the same
ones at every point), so the training pool holds K × ``max_events`` events.
"""

from __future__ import annotations

import math
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
import torch
from tqdm.auto import tqdm

from unbinned.data.events import EventSet
from unbinned.exceptions import ConfigError, DataError, ModelFileError
from unbinned.ml._features import FeatureTransform, feature_matrix
from unbinned.ml.design import Design, default_design
from unbinned.ml.networks import ResponseNet, build_network
from unbinned.ml.runtime import RunOptions
from unbinned.ml.sources import EVENT_ID, VariationSource
from unbinned.ml.training import TrainConfig, TrainHistory, resolve_device, seeded, train_network
from unbinned.ml.yields import PolynomialYieldModel, monomials, n_monomials
from unbinned.response import GPYieldModel

__all__ = [
    "ProcessResponse",
    "SignalEmphasis",
    "YieldModelLike",
    "train_response",
    "yield_model_from_dict",
]

FloatArray = npt.NDArray[np.float64]


@runtime_checkable
class YieldModelLike(Protocol):
    """What a response needs of a yield model (the ``YieldModel`` protocol of unbinned.response)."""

    def fit(
        self,
        nu_points: npt.ArrayLike,
        log_yields: npt.ArrayLike,
        gradients: npt.ArrayLike | None = None,
    ) -> Any:
        """Fit ln Y to the points."""
        ...

    def __call__(self, nu: npt.ArrayLike) -> Any:
        """ln Y at ν (shape (..., d) -> (...))."""
        ...

    def log_yield_torch(self, nu: torch.Tensor) -> torch.Tensor:
        """Differentiable ln Y."""
        ...

    def to_dict(self) -> dict[str, Any]:
        """JSON state."""
        ...


def yield_model_from_dict(data: Mapping[str, Any]) -> YieldModelLike:
    """Rebuild a yield model from its ``to_dict()`` by its ``kind`` (a fixed whitelist).

    ``"polynomial"``: :class:`~unbinned.ml.yields.PolynomialYieldModel`;
    ``"gp_yield"``: :class:`unbinned.response.GPYieldModel`.  Anything else raises
    :class:`~unbinned.exceptions.ModelFileError` (no arbitrary class is ever imported).
    """
    kind = data.get("kind") if isinstance(data, Mapping) else None
    try:
        if kind == PolynomialYieldModel.kind:
            return PolynomialYieldModel.from_dict(data)
        if kind == "gp_yield":
            model: YieldModelLike = GPYieldModel.from_dict(dict(data))
            return model
    except (ConfigError, KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"corrupt yield model state ({kind!r}): {exc}") from exc
    raise ModelFileError(f"unknown yield model kind {kind!r}; expected 'polynomial' or 'gp_yield'")


@dataclass(eq=False, repr=False)
class ProcessResponse:
    r"""The learned response of one process: ln R_p(x|ν) = ln Y_p(ν) + Δ_p(x)·φ(ν).

    Attributes
    ----------
    process
        Process name.
    nuisance_names
        Names of the standardised nuisances ν, in order.
    transform
        Feature preprocessing of the network.
    net
        Δ_p(x): one output per monomial.
    yield_model
        ln Y_p(ν).
    design
        Variation points used in training (standardised).
    log_yields
        Measured ln Y_p at the design points.
    history
        Training history.
    """

    process: str
    nuisance_names: tuple[str, ...]
    transform: FeatureTransform
    net: ResponseNet
    yield_model: YieldModelLike
    design: Design
    log_yields: FloatArray
    history: TrainHistory | None = None

    def __post_init__(self) -> None:
        m = n_monomials(len(self.nuisance_names))
        if self.net.n_outputs != m or self.net.n_inputs != self.transform.n_outputs:
            raise ConfigError(
                f"response network {self.net.n_inputs} -> {self.net.n_outputs} does not match "
                f"{self.transform.n_outputs} inputs and {m} monomials"
            )
        if self.design.nuisance_names != self.nuisance_names:
            raise ConfigError("design and response name different nuisances")
        if self.log_yields.shape != (len(self.design),):
            raise ConfigError("log_yields must have one entry per design point")

    @property
    def n_monomials(self) -> int:
        """Number M of monomials."""
        return n_monomials(len(self.nuisance_names))

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Input features in order."""
        return self.transform.feature_names

    def delta(
        self,
        data: Any,
        *,
        feature_names: Sequence[str] | None = None,
        batch_size: int = 16384,
        device: str | torch.device | None = "cpu",
    ) -> FloatArray:
        """Δ_p(x), shape (N, M), float64, for events selected by name."""
        x = self.transform(feature_matrix(data, self.feature_names, feature_names))
        dev = resolve_device(device)
        dtype = next(self.net.parameters()).dtype
        out = []
        with torch.inference_mode():
            for i in range(0, len(x), batch_size):
                xb = torch.from_numpy(x[i : i + batch_size]).to(device=dev, dtype=dtype)
                out.append(self.net(xb).to("cpu", torch.float64).numpy())
        return np.concatenate(out) if out else np.zeros((0, self.n_monomials))

    def log_yield(self, nu: npt.ArrayLike) -> float:
        """ln Y_p(ν) for one point ν (d,)."""
        return float(np.asarray(self.yield_model(np.asarray(nu, dtype=np.float64))))

    def log_ratio(self, data: Any, nu: npt.ArrayLike, **kwargs: Any) -> FloatArray:
        """ln R_p(x|ν) = ln Y_p(ν) + Δ_p(x)·φ(ν), shape (N,)."""
        arr = np.asarray(nu, dtype=np.float64)
        if arr.shape != (len(self.nuisance_names),):
            raise DataError(
                f"nu has shape {arr.shape}; expected ({len(self.nuisance_names)},) for "
                f"{list(self.nuisance_names)}"
            )
        return self.delta(data, **kwargs) @ monomials(arr) + self.log_yield(arr)

    def __repr__(self) -> str:
        return (
            f"ProcessResponse({self.process!r}, nuisances={list(self.nuisance_names)}, "
            f"hidden={list(self.net.hidden)}, {len(self.design)} design points)"
        )


@dataclass(frozen=True, eq=False)
class SignalEmphasis:
    r"""Per-event emphasis of the response loss on the signal-like region.

    .. math::

        h(x) = 1 + \alpha\,\min\!\Big(\frac{c_{k}(x)}{t},\ \kappa\Big),

    with :math:`c_k(x)` the nominal classifier's fraction of the signal (process
    ``index``) and :math:`t` its threshold of the signal-like tail (the signal-weighted
    :math:`1-q` quantile of :math:`c_k` over the nominal signal, :meth:`from_sample`):
    an event at the threshold weighs :math:`1+\alpha`, a Z→ττ-like event ≈ 1, and no
    event more than :math:`1+\alpha\kappa` (the cap κ bounds the loss of effective
    sample size to the few most signal-like events).

    Both classes of the response loss (:func:`train_response`) are weighted by the
    same h(x), each event by its own features.  Per variation point k the expected
    loss is :math:`\int h(x)\,[p_0(x)\,\mathrm{softplus}(s) + p_k(x)\,
    \mathrm{softplus}(-s)]\,dx`; its pointwise minimiser solves
    :math:`h\,[p_0\,\sigma(s) - p_k\,\sigma(-s)] = 0`, i.e. :math:`s = \ln p_k/p_0`
    for any h > 0: the optimal ratio is unchanged and only the network's capacity
    and the weight of the training statistics move towards the signal-like events
    that the measurement of μ depends on.

    Attributes
    ----------
    classifier
        The nominal classifier (anything with ``fractions(events) -> (N, P)``).
    index
        Column of the signal in its fractions.
    alpha
        α ≥ 0 (0: h = 1).
    scale
        t > 0.
    cap
        κ > 0 (default ∞: no cap).
    """

    classifier: Any
    index: int
    alpha: float
    scale: float
    cap: float = math.inf

    def __post_init__(self) -> None:
        if not (math.isfinite(self.alpha) and self.alpha >= 0):
            raise ConfigError(f"SignalEmphasis alpha={self.alpha!r}; expected a finite α ≥ 0")
        if not (math.isfinite(self.scale) and self.scale > 0):
            raise ConfigError(f"SignalEmphasis scale={self.scale!r}; expected a finite t > 0")
        if not self.cap > 0:
            raise ConfigError(f"SignalEmphasis cap={self.cap!r}; expected κ > 0 (inf: no cap)")

    @classmethod
    def from_sample(
        cls,
        classifier: Any,
        index: int,
        signal: EventSet,
        alpha: float,
        tail_fraction: float = 0.25,
        cap: float = math.inf,
    ) -> SignalEmphasis:
        """The emphasis whose t leaves ``tail_fraction`` of ``signal``'s weight above it."""
        if not 0 < tail_fraction < 1:
            raise ConfigError(f"tail_fraction={tail_fraction!r}; expected a value in (0, 1)")
        if len(signal) == 0:
            raise DataError("SignalEmphasis.from_sample needs nominal signal events; got none")
        c = np.asarray(classifier.fractions(signal))[:, index]
        w = np.clip(signal.weights, 0.0, None)
        if not w.sum() > 0:
            raise DataError("the signal events' weights sum to 0; expected positive weights")
        t = float(np.quantile(c, 1.0 - tail_fraction, weights=w, method="inverted_cdf"))
        return cls(classifier, int(index), float(alpha), max(t, 1e-12), float(cap))

    def __call__(self, events: EventSet) -> FloatArray:
        """h(x) of ``events``, shape (N,)."""
        if self.alpha == 0 or len(events) == 0:
            return np.ones(len(events))
        c = np.asarray(self.classifier.fractions(events), dtype=np.float64)[:, self.index]
        return 1.0 + self.alpha * np.minimum(c / self.scale, self.cap)

    def to_dict(self) -> dict[str, Any]:
        """JSON description (the classifier is the model's own)."""
        return {"kind": "signal_emphasis", "index": self.index, "alpha": self.alpha,
                "scale": self.scale, "cap": None if math.isinf(self.cap) else self.cap}  # fmt: skip

    def __repr__(self) -> str:
        return (
            f"SignalEmphasis(index={self.index}, alpha={self.alpha:g}, scale={self.scale:.4g}, "
            f"cap={self.cap:g})"
        )


def _response_loss(
    phi: torch.Tensor,
) -> Callable[[torch.nn.Module, list[tuple[torch.Tensor, ...]]], torch.Tensor]:
    cache: dict[tuple[torch.device, torch.dtype], torch.Tensor] = {}

    def loss(net: torch.nn.Module, batches: list[tuple[torch.Tensor, ...]]) -> torch.Tensor:
        x0, u0 = batches[0]
        xv, kv, uv = batches[1]
        key = (x0.device, x0.dtype)
        if key not in cache:
            cache[key] = phi.to(device=x0.device, dtype=x0.dtype)
        ph = cache[key]
        s0 = net(x0) @ ph.T  # (B0, K)
        nominal = (u0 * torch.nn.functional.softplus(s0).mean(dim=1)).sum()
        sv = (net(xv) * ph[kv]).sum(dim=1)
        varied = (uv * torch.nn.functional.softplus(-sv)).sum()
        return nominal + varied

    return loss


def _describe(emphasis: Callable[[EventSet], Any]) -> Any:
    """JSON description of an emphasis (its ``to_dict()``, else its name)."""
    to_dict = getattr(emphasis, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    return getattr(emphasis, "__qualname__", type(emphasis).__qualname__)


def _ids(events: EventSet) -> npt.NDArray[np.int64]:
    if EVENT_ID not in events.extras.columns:
        raise DataError(
            f"the source's events carry no {EVENT_ID!r} extra column; a VariationSource must "
            "label each event with the generated event it comes from"
        )
    return events.extras[EVENT_ID].to_numpy(np.int64)


def train_response(
    source: VariationSource,
    process: str,
    *,
    design: Design | None = None,
    transform: FeatureTransform | None = None,
    config: TrainConfig | None = None,
    yield_model: Callable[[], YieldModelLike] | None = None,
    max_events: int | None = None,
    seed: int = 0,
    run: RunOptions | None = None,
    name: str | None = None,
    emphasis: Callable[[EventSet], Any] | None = None,
) -> ProcessResponse:
    """Train the response of ``process`` on nominal vs varied simulation of the same events.

    Parameters
    ----------
    source
        Nominal and varied simulation (:class:`~unbinned.ml.sources.VariationSource`).
    process
        The process.
    design
        Variation points (default :func:`~unbinned.ml.design.default_design` of the
        source's nuisances); needs at least as many varied points as monomials.
    transform
        Feature preprocessing (default: fitted on the nominal events of the process).
    config
        Network and optimiser settings.
    yield_model
        Factory of the ln Y model (default ``PolynomialYieldModel(d)``).  A model with
        ``fit_by_design`` and ``design_points > 0`` (a
        :class:`unbinned.response.GPYieldModel`) adds that many simulation points
        chosen by Bayesian experimental design to the variation points.
    max_events
        Train the network on at most this many generated events (the same at every
        point); the yields Y(ν_k) of the yield model always use every generated event.
    seed, run
        See :func:`unbinned.ml.training.train_network`.
    name
        Network name (default ``"response_<process>"``).
    """
    cfg = config or TrainConfig()
    names, dsg = _checked_design(source, design)
    net_name = name or f"response_{process}"
    progress = (run or RunOptions()).progress
    data = _response_data(source, process, dsg, transform, cfg, max_events, seed, progress,
                          net_name, emphasis)  # fmt: skip
    ym = yield_model() if yield_model is not None else PolynomialYieldModel(len(names))
    _fit_yield_model(ym, source, process, dsg.points, data.log_yields, data.w_nom, progress,
                     net_name)  # fmt: skip
    with seeded(seed):
        net = ResponseNet(data.tf.n_outputs, n_monomials(len(names)), cfg.hidden, cfg.activation)
    history = train_network(
        net,
        _response_loss(data.phi),
        data.train_streams,
        data.val_streams,
        config=cfg,
        seed=seed,
        run=run,
        name=net_name,
        fingerprint={
            "process": process,
            "points": dsg.points.tolist(),
            "n_nominal": data.n_nominal,
            "sum_w": data.w_nom,
            "log_yields": [round(float(v), 12) for v in data.log_yields],
            **({} if emphasis is None else {"emphasis": _describe(emphasis)}),
        },
    )
    net.to("cpu")
    return ProcessResponse(process, names, data.tf, net, ym, dsg, data.log_yields, history)


@dataclass(frozen=True, eq=False)
class _ResponseData:
    """The training inputs of one response (see :func:`_response_data`)."""

    tf: FeatureTransform
    n_nominal: int
    w_nom: float
    log_yields: FloatArray
    phi: torch.Tensor
    train_streams: list[list[torch.Tensor]]
    val_streams: list[list[torch.Tensor]]


def _response_data(
    source: VariationSource,
    process: str,
    dsg: Design,
    transform: FeatureTransform | None,
    cfg: TrainConfig,
    max_events: int | None,
    seed: int,
    progress: bool,
    net_name: str,
    emphasis: Callable[[EventSet], Any] | None = None,
) -> _ResponseData:
    """Nominal and varied events of ``process`` as training and validation streams.

    Also the nominal weight sum and ln Y at the design points (from every generated
    event) and φ(ν) of the varied points.
    """
    rng = np.random.default_rng([int(seed), 104729])
    generated = np.asarray(source.generated_ids(process), dtype=np.int64)
    subset: npt.NDArray[np.int64] | None = None
    if max_events is not None and max_events < len(generated):
        subset = np.sort(rng.choice(generated, size=int(max_events), replace=False))
        generated = subset
    nominal = source.nominal(process, event_ids=subset)
    if len(nominal) < 10:
        raise DataError(f"process {process!r} has only {len(nominal)} nominal events")
    feats = source.feature_names
    tf = transform or FeatureTransform.fit(feature_matrix(nominal, feats), feats)
    # split generated events into training and validation
    split = _Split(tf, generated[rng.random(len(generated)) < cfg.validation_fraction], emphasis)
    x0_tr, w0_tr, h0_tr, x0_va, w0_va, h0_va = split(nominal)
    # one constant for both classes and splits: the loss keeps its scale (h̄ = 1 without
    # emphasis), and a common factor leaves the minimiser alone (train_response)
    h_bar = float(w0_tr @ h0_tr / w0_tr.sum())
    # the yields come from every generated event, not only the training subset: their
    # ratio to nominal is set by the few events migrating across the selection cuts,
    # so its Monte-Carlo precision matters (a 10⁶-event dataset resolves 10⁻⁴ changes)
    w_nom = float((nominal if subset is None else source.nominal(process)).weights.sum())
    if not w_nom > 0:
        raise DataError(f"process {process!r}: nominal weights sum to {w_nom}; expected > 0")
    points = dsg.points
    log_yields, pool, varied_idx = _varied_pool(
        source, process, points, subset, split, w_nom, h_bar, progress, net_name
    )
    phi = torch.from_numpy(monomials(points[varied_idx]))
    train_streams = _streams(pool, "tr", x0_tr, w0_tr / float(w0_tr.sum()) * h0_tr / h_bar)
    val_streams = _streams(pool, "va", x0_va, w0_va / float(w0_va.sum()) * h0_va / h_bar)
    pool.clear()
    return _ResponseData(tf, len(nominal), w_nom, log_yields, phi, train_streams, val_streams)


def _checked_design(
    source: VariationSource, design: Design | None
) -> tuple[tuple[str, ...], Design]:
    """The source's nuisance names and the design (default one), checked against them."""
    nuis = source.nuisances
    names = tuple(n.name for n in nuis)
    dsg = design or default_design(nuis)
    if dsg.nuisance_names != names:
        raise ConfigError(
            f"design nuisances {list(dsg.nuisance_names)} differ from the source's {list(names)}"
        )
    dsg.check()
    return names, dsg


class _Split:
    """Network inputs, weights and emphasis of an event set, split into training and validation.

    Returns ``(x_tr, w_tr, h_tr, x_va, w_va, h_va)``: h is the emphasis h(x) of each
    event (ones without one).
    """

    def __init__(
        self,
        tf: FeatureTransform,
        val_ids: npt.NDArray[np.int64],
        emphasis: Callable[[EventSet], Any] | None = None,
    ) -> None:
        self.tf = tf
        self.val_ids = val_ids
        self.emphasis = emphasis

    def __call__(self, ev: EventSet) -> tuple[Any, ...]:
        is_val = np.isin(_ids(ev), self.val_ids)
        x = self.tf(feature_matrix(ev, self.tf.feature_names))
        h = np.ones(len(ev)) if self.emphasis is None else _checked_emphasis(self.emphasis, ev)
        return x[~is_val], ev.weights[~is_val], h[~is_val], x[is_val], ev.weights[is_val], h[is_val]


def _checked_emphasis(emphasis: Callable[[EventSet], Any], ev: EventSet) -> FloatArray:
    """h(x) of the events, checked: one finite positive number per event."""
    h = np.asarray(emphasis(ev), dtype=np.float64)
    if h.shape != (len(ev),) or not (np.all(np.isfinite(h)) and np.all(h > 0)):
        raise DataError(
            f"the response emphasis returned shape {h.shape}, min "
            f"{float(np.min(h)) if h.size else float('nan')}; expected ({len(ev)},) finite "
            "values > 0"
        )
    return h


def _varied_pool(
    source: VariationSource,
    process: str,
    points: FloatArray,
    subset: npt.NDArray[np.int64] | None,
    split: _Split,
    w_nom: float,
    h_bar: float,
    progress: bool,
    net_name: str,
) -> tuple[FloatArray, dict[str, list[Any]], list[int]]:
    """ln Y at every point, the varied events' inputs, point labels and unit-sum weights.

    Returns the log-yields (0 at the nominal point), the pool of training (``_tr``) and
    validation (``_va``) arrays and the indices of the varied points.
    """
    log_yields = np.zeros(len(points))
    pool: dict[str, list[Any]] = {k: [] for k in ("x_tr", "k_tr", "u_tr", "x_va", "k_va", "u_va")}
    varied_idx = [i for i, p in enumerate(points) if np.any(p != 0.0)]
    for k_local, i in enumerate(
        tqdm(
            varied_idx,
            desc=f"{net_name}: variations",
            disable=not progress,
            file=sys.stderr,
            leave=False,
        )
    ):
        ev = source.varied(process, points[i], event_ids=subset)
        full = ev if subset is None else source.varied(process, points[i])
        w_k = float(full.weights.sum())
        if not w_k > 0:
            raise DataError(
                f"process {process!r} has no selected varied events at nu={points[i].tolist()}"
            )
        log_yields[i] = np.log(w_k / w_nom)
        x_tr, w_tr, h_tr, x_va, w_va, h_va = split(ev)
        for tag, x, w, h in (("tr", x_tr, w_tr, h_tr), ("va", x_va, w_va, h_va)):
            pool[f"x_{tag}"].append(x)
            pool[f"k_{tag}"].append(np.full(len(x), k_local, dtype=np.int64))
            u = w / max(float(w.sum()), 1e-300) / len(varied_idx)
            pool[f"u_{tag}"].append(u * h / h_bar)
    return log_yields, pool, varied_idx


def _streams(pool: Mapping[str, list[Any]], tag: str, x0: Any, u0: Any) -> list[list[torch.Tensor]]:
    """The nominal (loss weights ``u0``) and pooled varied streams of one split (``tr``/``va``)."""
    return [
        [torch.from_numpy(x0), torch.from_numpy(np.ascontiguousarray(u0))],
        [
            torch.from_numpy(_drain(pool[f"x_{tag}"])),
            torch.from_numpy(_drain(pool[f"k_{tag}"])),
            torch.from_numpy(_drain(pool[f"u_{tag}"])),
        ],
    ]


def _drain(chunks: list[Any]) -> Any:
    """``np.concatenate(chunks)``, emptying ``chunks`` and freeing each one once copied.

    Not ``np.concatenate``: it holds every chunk until the end, twice the pool's size
    at the peak (≈ 4.5 GB more for the largest process's response at 1 M events per
    point, 39 points; the pool holds the only references to its chunks).
    """
    if not chunks:
        raise DataError("no varied events to train the response on")
    out = np.empty((sum(len(c) for c in chunks), *chunks[0].shape[1:]), dtype=chunks[0].dtype)
    chunks.reverse()
    start = 0
    while chunks:
        c = chunks.pop()
        out[start : start + len(c)] = c
        start += len(c)
        del c
    return out


def _fit_yield_model(
    ym: YieldModelLike,
    source: VariationSource,
    process: str,
    points: FloatArray,
    log_yields: FloatArray,
    w_nom: float,
    progress: bool,
    net_name: str,
) -> None:
    """Fit ``ym`` to the log-yields, by design when it has ``design_points > 0``."""
    designer = getattr(ym, "fit_by_design", None)

    def simulate_log_yield(nu: FloatArray) -> float:
        w = float(source.varied(process, nu).weights.sum())
        if not w > 0:
            raise DataError(f"process {process!r} has no selected events at nu={nu.tolist()}")
        return float(np.log(w / w_nom))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)
        if callable(designer) and int(getattr(ym, "design_points", 0)) > 0:
            # a GP yield model with designed points: the variation points above start
            # the design, each further point costs one varied simulation of every event
            designer(simulate_log_yield, points, log_yields, progress=progress,
                     desc=f"{net_name}: yield design")  # fmt: skip
        else:
            ym.fit(points, log_yields)


def response_to_state(
    resp: ProcessResponse, *, with_transform: bool = True
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """JSON metadata and tensors of a response (for :mod:`unbinned.ml.serialization`)."""
    meta: dict[str, Any] = {
        "process": resp.process,
        "nuisance_names": list(resp.nuisance_names),
        "architecture": resp.net.architecture(),
        "yield_model": resp.yield_model.to_dict(),
        "design": resp.design.to_dict(),
        "log_yields": [float(v) for v in resp.log_yields],
        "history": resp.history.to_dict() if resp.history is not None else None,
    }
    if with_transform:
        meta["transform"] = resp.transform.to_dict()
    return meta, {k: v.detach().cpu().contiguous() for k, v in resp.net.state_dict().items()}


def response_from_state(
    meta: Mapping[str, Any],
    tensors: Mapping[str, torch.Tensor],
    transform: FeatureTransform | None = None,
) -> ProcessResponse:
    """Inverse of :func:`response_to_state`."""
    net = build_network(meta["architecture"])
    if not isinstance(net, ResponseNet):
        raise ConfigError(
            f"architecture kind {meta['architecture'].get('kind')!r} is not a response"
        )
    net.load_state_dict(dict(tensors))
    net.eval()
    tf = transform if transform is not None else FeatureTransform.from_dict(meta["transform"])
    return ProcessResponse(
        str(meta["process"]),
        tuple(meta["nuisance_names"]),
        tf,
        net,
        yield_model_from_dict(meta["yield_model"]),
        Design.from_dict(meta["design"]),
        np.asarray(meta["log_yields"], dtype=np.float64),
        TrainHistory.from_dict(meta["history"]) if meta.get("history") else None,
    )


__all__ += ["response_from_state", "response_to_state"]
