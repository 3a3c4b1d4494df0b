r"""The calibrated multiclass classifier of the nominal process fractions.

For processes :math:`p = 1..P` with nominal differential cross sections
:math:`d\sigma_p(x)`, the classifier estimates the per-event fractions

.. math:: c_p(x) = \frac{d\sigma_p(x)}{\sum_q d\sigma_q(x)} = \frac{d\sigma_p(x)}{d\sigma(x)}

(DESIGN.md §3).  Training minimises the weighted cross-entropy with
class-balancing weights :math:`u_i = w_i / (P\,W_{p(i)})` (every process has the
same total weight, so the rare signal is learned as well as the dominant
background); the network's softmax then estimates the fractions at balanced
priors, and adding :math:`\ln(W_p/W)` to the logits undoes the class weights
(Bayes' rule with the true priors).

Calibration is *bias-corrected temperature scaling* (Alexandari, Kundaje &
Shrikumar, "Maximum likelihood with bias-corrected calibration is hard-to-beat at
label shift adaptation", ICML 2020; Guo et al., ICML 2017 for temperature
scaling): on a held-out split with the natural weights,

.. math:: \ln c_p(x) = \mathrm{log\,softmax}_p\big(z(x)/T + \ln(W_p/W) + b_p\big)

with :math:`T` and :math:`b` fitted by L-BFGS to the weighted negative
log-likelihood.  At its minimum :math:`\partial/\partial b_p = 0` gives
:math:`\sum_i w_i c_p(x_i) = \sum_{i \in p} w_i` on the calibration split: the
fractions reproduce every process yield by construction there, and within
statistical precision on independent events.

With ``members`` K > 1 the classifier is an ensemble (Lakshminarayanan, Pritzel &
Blundell, "Simple and scalable predictive uncertainty estimation using deep
ensembles", NeurIPS 2017): K networks trained on the same split from different
initialisations and batch orders, each on its own Poisson(1) bootstrap of the training
events by default (bagging: members trained on the same events share most of their
error), whose logits are averaged before the calibration,

.. math:: z(x) = \frac1K \sum_{k=1}^K z_k(x)

(the geometric mean of the members' balanced-prior fractions), then calibrated once
as above.  A single network's noise inflates the claimed information
:math:`\sum_i w_i \hat c^2` (:math:`E[\hat c^2] = c^2 + \mathrm{var}\,\hat c`);
the mean of K members has less of it.  The K networks are merged into one wider
network with the same outputs (:func:`unbinned.ml.networks.average_networks`), so an
ensemble evaluates, saves and loads as a single network.

Inputs are the event features by name (standardised, with missing-jet
indicators: :mod:`unbinned.ml._features`).
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from scipy.optimize import minimize

from unbinned.data.events import EventSet
from unbinned.exceptions import ConfigError, DataError
from unbinned.ml._features import FeatureTransform, feature_matrix
from unbinned.ml.networks import ClassifierNet, average_networks, build_network
from unbinned.ml.runtime import RunOptions
from unbinned.ml.training import (
    TrainConfig,
    TrainHistory,
    resolve_device,
    seeded,
    train_network,
)

__all__ = [
    "CalibrationResult",
    "ProcessClassifier",
    "calibrate",
    "split_indices",
    "train_classifier",
]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class CalibrationResult:
    """Fitted temperature and biases, and the held-out NLL before and after."""

    temperature: float
    bias: tuple[float, ...]
    nll_before: float
    nll_after: float
    n_events: int

    def __repr__(self) -> str:
        return (
            f"CalibrationResult(T={self.temperature:.4f}, bias={np.round(self.bias, 4).tolist()}, "
            f"NLL {self.nll_before:.5f} -> {self.nll_after:.5f} on {self.n_events} events)"
        )


@dataclass(eq=False, repr=False)
class ProcessClassifier:
    r"""Trained network plus preprocessing and calibration: x ↦ c_p(x).

    Attributes
    ----------
    processes
        Process names, in the order of the outputs.
    transform
        Feature preprocessing (names, order, standardisation, missing indicators).
    net
        The network (logits at balanced priors).
    log_prior
        :math:`\ln(W_p/W)` of the training sample, added to the logits.
    temperature, bias
        Calibration: logits are divided by ``temperature`` and ``bias`` is added.
    history
        The training history (of the first member of an ensemble).
    calibration
        The fitted calibration, when it was fitted.
    members
        How many networks ``net`` averages (1: a single network; see
        :func:`train_classifier`).
    """

    processes: tuple[str, ...]
    transform: FeatureTransform
    net: ClassifierNet
    log_prior: FloatArray
    temperature: float = 1.0
    bias: FloatArray = field(default_factory=lambda: np.zeros(0))
    history: TrainHistory | None = None
    calibration: CalibrationResult | None = None
    members: int = 1

    def __post_init__(self) -> None:
        p = len(self.processes)
        if not isinstance(self.members, int) or self.members < 1:
            raise ConfigError(f"members={self.members!r}; expected an integer >= 1")
        if self.bias.size == 0:
            self.bias = np.zeros(p)
        if self.log_prior.shape != (p,) or self.bias.shape != (p,):
            raise ConfigError(f"log_prior and bias must have shape ({p},) for {p} processes")
        if self.net.n_outputs != p or self.net.n_inputs != self.transform.n_outputs:
            raise ConfigError(
                f"classifier network {self.net.n_inputs} -> {self.net.n_outputs} does not match "
                f"{self.transform.n_outputs} inputs and {p} processes"
            )
        if not (self.temperature > 0 and np.isfinite(self.temperature)):
            raise ConfigError(f"temperature {self.temperature} must be finite and > 0")

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The feature columns, in the order the network uses them."""
        return self.transform.feature_names

    def offsets(self) -> FloatArray:
        """The constant added to the scaled logits: ``log_prior + bias``."""
        return self.log_prior + self.bias

    def log_fractions_from_logits(self, logits: torch.Tensor) -> torch.Tensor:
        """ln c_p from raw logits (any float dtype; computed in the logits' dtype)."""
        off = torch.as_tensor(self.offsets(), dtype=logits.dtype, device=logits.device)
        return torch.log_softmax(logits / self.temperature + off, dim=-1)

    def logits(
        self,
        data: Any,
        *,
        feature_names: Sequence[str] | None = None,
        batch_size: int = 16384,
        device: str | torch.device | None = "cpu",
    ) -> FloatArray:
        """Raw network logits (N, P), float64, for events selected by name."""
        x = self.transform(feature_matrix(data, self.feature_names, feature_names))
        return _run(self.net, x, batch_size, device)

    def log_fractions(self, data: Any, **kwargs: Any) -> FloatArray:
        """ln c_p(x), shape (N, P), float64 (keyword arguments as :meth:`logits`)."""
        z = torch.from_numpy(self.logits(data, **kwargs))
        return self.log_fractions_from_logits(z).numpy()

    def fractions(self, data: Any, **kwargs: Any) -> FloatArray:
        """c_p(x), shape (N, P), float64, rows summing to 1."""
        return np.exp(self.log_fractions(data, **kwargs))

    def __repr__(self) -> str:
        return (
            f"ProcessClassifier(processes={list(self.processes)}, "
            f"{self.transform.n_outputs} inputs, hidden={list(self.net.hidden)}, "
            f"members={self.members}, T={self.temperature:.4g})"
        )


def _run(net: torch.nn.Module, x: npt.NDArray[Any], batch_size: int, device: Any) -> FloatArray:
    dev = resolve_device(device)
    param = next(net.parameters())
    if param.device != dev:
        # evaluate a copy on the requested device; the classifier's own network stays put
        net = copy.deepcopy(net).to(dev)
        param = next(net.parameters())
    out = []
    with torch.inference_mode():
        for i in range(0, len(x), batch_size):
            xb = torch.from_numpy(x[i : i + batch_size]).to(device=dev, dtype=param.dtype)
            out.append(net(xb).to("cpu", torch.float64).numpy())
    if not out:
        return np.zeros((0, int(getattr(net, "n_outputs", 0))))
    return np.concatenate(out)


def split_indices(
    n: int, fractions: Sequence[float], seed: int, groups: npt.ArrayLike | None = None
) -> list[npt.NDArray[np.int64]]:
    """Random disjoint index sets: the given fractions, then the rest (first part).

    With ``groups`` (e.g. generated-event ids), whole groups go to one part.
    Returns ``[rest, part_1, ..., part_k]``.
    """
    rng = np.random.default_rng([int(seed), 7919])
    if groups is None:
        u = rng.random(n)
    else:
        g = np.asarray(groups)
        uniq, inv = np.unique(g, return_inverse=True)
        u = rng.random(len(uniq))[inv]
    edges = np.cumsum([0.0, *fractions])
    if edges[-1] >= 1.0:
        raise ConfigError(f"split fractions {list(fractions)} must sum to less than 1")
    parts = [np.flatnonzero(u >= edges[-1])]
    for lo, hi in itertools.pairwise(edges):
        parts.append(np.flatnonzero((u >= lo) & (u < hi)))
    return parts


_MEMBER_SEED_STEP = 1000
_BOOTSTRAP_STREAM = 31337  # second word of the bootstrap counts' seed
"""Member k of an ensemble trains from seed ``seed + _MEMBER_SEED_STEP * k``."""


def _labels(events: EventSet, processes: Sequence[str]) -> npt.NDArray[np.int64]:
    lookup = {}
    for code, name in enumerate(events.process_names):
        if name in processes:
            lookup[code] = list(processes).index(name)
    present = np.unique(events.process_codes)
    unknown = [events.process_names[c] for c in present if c not in lookup]
    if unknown:
        raise DataError(
            f"events of process(es) {unknown} are not among the classifier's processes "
            f"{list(processes)}. Fix: select them out or add them to processes="
        )
    table = np.full(len(events.process_names), -1, dtype=np.int64)
    for code, idx in lookup.items():
        table[code] = idx
    return table[events.process_codes]


def _class_sums(weights: FloatArray, labels: npt.NDArray[np.int64], n: int) -> FloatArray:
    return np.bincount(labels, weights=weights, minlength=n).astype(np.float64)


def _balanced(weights: FloatArray, labels: npt.NDArray[np.int64], n: int) -> FloatArray:
    sums = _class_sums(weights, labels, n)
    if (sums <= 0).any():
        bad = np.flatnonzero(sums <= 0).tolist()
        raise DataError(f"process index(es) {bad} have no events or a non-positive weight sum")
    return weights / (n * sums[labels])


def _ce_loss(net: torch.nn.Module, batches: list[tuple[torch.Tensor, ...]]) -> torch.Tensor:
    x, y, u = batches[0]
    logp = torch.log_softmax(net(x), dim=1)
    return -(u * logp.gather(1, y[:, None]).squeeze(1)).sum()


def _check_splits(
    labels: npt.NDArray[np.int64],
    procs: tuple[str, ...],
    train_idx: npt.NDArray[np.int64],
    val_idx: npt.NDArray[np.int64],
    cal_idx: npt.NDArray[np.int64],
) -> None:
    """Every split must hold events of every process."""
    for what, idx in (("training", train_idx), ("validation", val_idx), ("calibration", cal_idx)):
        missing = sorted(set(range(len(procs))) - set(np.unique(labels[idx]).tolist()))
        if missing:
            raise DataError(
                f"the {what} split has no events of {[procs[m] for m in missing]}; "
                "provide more simulated events"
            )


def _stream(
    inputs: FloatArray,
    labels: npt.NDArray[np.int64],
    w: FloatArray,
    idx: npt.NDArray[np.int64],
    n_proc: int,
) -> list[torch.Tensor]:
    """Inputs, labels and class-balanced weights of the events ``idx``."""
    u = _balanced(w[idx], labels[idx], n_proc)
    return [
        torch.from_numpy(inputs[idx]),
        torch.from_numpy(labels[idx]),
        torch.from_numpy(u),
    ]


def train_classifier(
    events: EventSet,
    *,
    processes: Sequence[str] | None = None,
    feature_names: Sequence[str] | None = None,
    transform: FeatureTransform | None = None,
    config: TrainConfig | None = None,
    calibration_fraction: float = 0.2,
    seed: int = 0,
    run: RunOptions | None = None,
    name: str = "classifier",
    members: int = 1,
    bootstrap: bool = True,
) -> ProcessClassifier:
    """Train, then calibrate, the process classifier on nominal simulation.

    Parameters
    ----------
    events
        Nominal simulated events of every process, with their weights (σ L / N).
    processes
        Output order (default ``events.process_names``); every event must belong to one.
    feature_names
        Inputs (default: all of ``events``' features).
    transform
        Preprocessing; default :meth:`FeatureTransform.fit` on the training split.
    config
        Network and optimiser settings (:class:`TrainConfig`).
    calibration_fraction
        Share of events held out for the calibration (disjoint from the training
        and validation splits).
    seed, run, name
        See :func:`unbinned.ml.training.train_network`.  ``seed`` also draws the
        splits; member k of an ensemble starts from seed ``seed + 1000 k`` (member 0
        is the single network of ``members=1``) and is checkpointed as ``name.k``.
    members
        Networks in the ensemble (module docstring): trained one after the other on
        the same training split, their logits averaged, then calibrated once.
    bootstrap
        With ``members`` > 1, member k trains on a Poisson(1) bootstrap of the training
        split (every event's weight times a count drawn with seed ``seed + 1000 k``;
        Breiman, "Bagging predictors", Machine Learning 24, 1996), so the members'
        errors are less correlated than on the same events (BENCHMARKS.md, "Classifier
        ensembles").  Ignored for one member.
    """
    if isinstance(members, bool) or not isinstance(members, int) or members < 1:
        raise ConfigError(f"members={members!r}; expected an integer >= 1")
    if not isinstance(events, EventSet):
        raise TypeError(f"events must be an EventSet, got {type(events).__name__}")
    cfg = config or TrainConfig()
    procs = tuple(processes) if processes is not None else events.process_names
    names = tuple(feature_names) if feature_names is not None else events.feature_names
    if not 0 < calibration_fraction < 0.5:
        raise ConfigError(f"calibration_fraction={calibration_fraction}; expected in (0, 0.5)")
    x = feature_matrix(events, names)
    labels = _labels(events, procs)
    w = events.weights
    groups = events.extras["event_id"].to_numpy() if "event_id" in events.extras else None
    train_idx, val_idx, cal_idx = split_indices(
        len(events), [cfg.validation_fraction, calibration_fraction], seed, groups
    )
    _check_splits(labels, procs, train_idx, val_idx, cal_idx)
    tf = transform or FeatureTransform.fit(x[train_idx], names)
    if tf.feature_names != names:
        raise ConfigError("the transform's feature names differ from feature_names")
    inputs = tf(x)
    train = [_stream(inputs, labels, w, train_idx, len(procs))]
    validation = [_stream(inputs, labels, w, val_idx, len(procs))]
    nets: list[ClassifierNet] = []
    histories: list[TrainHistory] = []
    for k in range(members):
        member_seed = seed + _MEMBER_SEED_STEP * k
        with seeded(member_seed):
            net = ClassifierNet(tf.n_outputs, len(procs), cfg.hidden, cfg.activation)
        member_train = train
        if bootstrap and members > 1:
            counts = np.random.default_rng([member_seed, _BOOTSTRAP_STREAM]).poisson(
                1.0, len(train_idx)
            )
            w_k = w.copy()
            w_k[train_idx] *= counts
            member_train = [_stream(inputs, labels, w_k, train_idx[counts > 0], len(procs))]
        histories.append(
            train_network(
                net,
                _ce_loss,
                member_train,
                validation,
                config=cfg,
                seed=member_seed,
                run=run,
                name=name if k == 0 else f"{name}.{k}",
                fingerprint={
                    "n": len(events),
                    "sum_w": float(w.sum()),
                    "features": list(names),
                    "bootstrap": bool(bootstrap and members > 1),
                },
            )
        )
        nets.append(net.to("cpu"))
    merged = average_networks(nets)
    assert isinstance(merged, ClassifierNet)  # average_networks keeps the kind
    sums = _class_sums(w[train_idx], labels[train_idx], len(procs))
    log_prior = np.log(sums / sums.sum())
    clf = ProcessClassifier(procs, tf, merged, log_prior, history=histories[0], members=members)
    result = calibrate(clf, events.select(cal_idx))
    return clf_with_calibration(clf, result)


def clf_with_calibration(clf: ProcessClassifier, result: CalibrationResult) -> ProcessClassifier:
    """A copy of ``clf`` using the calibration ``result``."""
    return ProcessClassifier(
        clf.processes,
        clf.transform,
        clf.net,
        clf.log_prior,
        result.temperature,
        np.asarray(result.bias, dtype=np.float64),
        clf.history,
        result,
        clf.members,
    )


def calibrate(
    classifier: ProcessClassifier, events: EventSet, *, max_iter: int = 200
) -> CalibrationResult:
    r"""Fit temperature and per-process biases on held-out events (natural weights).

    Minimises :math:`-\sum_i w_i \ln c_{p(i)}(x_i) / \sum_i w_i` over
    :math:`(\ln T, b)` with L-BFGS-B (``scipy.optimize.minimize``, exact gradient
    by autodiff, float64), starting from T = 1, b = 0.  Returns the fitted values; apply them with
    :func:`clf_with_calibration` (done by :func:`train_classifier`).
    """
    labels = torch.from_numpy(_labels(events, classifier.processes))
    w = torch.from_numpy(events.weights)
    total = float(w.sum())
    if not total > 0:
        raise DataError("calibration events have a non-positive total weight")
    z = torch.from_numpy(classifier.logits(events))
    prior = torch.from_numpy(classifier.log_prior)
    n_proc = len(classifier.processes)
    picked = torch.zeros_like(z).scatter_(1, labels[:, None], 1.0) * (w / total)[:, None]

    def nll(theta: torch.Tensor) -> torch.Tensor:
        logp = torch.log_softmax(z * torch.exp(theta[0]) + prior + theta[1:], dim=1)
        return -(picked * logp).sum()

    def fun(values: FloatArray) -> tuple[float, FloatArray]:
        theta = torch.from_numpy(values).requires_grad_(True)
        loss = nll(theta)
        (grad,) = torch.autograd.grad(loss, theta)
        return float(loss.detach()), grad.numpy()

    x0 = np.zeros(1 + n_proc)
    before = fun(x0)[0]
    res = minimize(
        fun, x0, jac=True, method="L-BFGS-B",
        options={"maxiter": max_iter, "gtol": 1e-12, "ftol": 1e-15},
    )  # fmt: skip
    after = fun(res.x)[0]
    b = res.x[1:] - res.x[1:].mean()
    temperature = float(np.exp(-res.x[0]))
    if not (np.isfinite(after) and np.isfinite(b).all() and np.isfinite(temperature)):
        raise DataError("calibration diverged; check the calibration events' weights")
    return CalibrationResult(temperature, tuple(float(v) for v in b), before, after, len(events))


def classifier_to_state(clf: ProcessClassifier) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """JSON metadata and tensors of a classifier (for :mod:`unbinned.ml.serialization`)."""
    meta = {
        "processes": list(clf.processes),
        "transform": clf.transform.to_dict(),
        "architecture": clf.net.architecture(),
        "log_prior": [float(v) for v in clf.log_prior],
        "temperature": float(clf.temperature),
        "bias": [float(v) for v in clf.bias],
        "members": int(clf.members),
        "history": clf.history.to_dict() if clf.history is not None else None,
        "calibration": None
        if clf.calibration is None
        else {
            "temperature": clf.calibration.temperature,
            "bias": list(clf.calibration.bias),
            "nll_before": clf.calibration.nll_before,
            "nll_after": clf.calibration.nll_after,
            "n_events": clf.calibration.n_events,
        },
    }
    return meta, {k: v.detach().cpu().contiguous() for k, v in clf.net.state_dict().items()}


def classifier_from_state(
    meta: Mapping[str, Any], tensors: Mapping[str, torch.Tensor]
) -> ProcessClassifier:
    """Inverse of :func:`classifier_to_state` (the network's tensors are checked by the caller)."""
    net = build_network(meta["architecture"])
    if not isinstance(net, ClassifierNet):
        raise ConfigError(
            f"architecture kind {meta['architecture'].get('kind')!r} is not a classifier"
        )
    net.load_state_dict(dict(tensors))
    net.eval()
    cal = meta.get("calibration")
    return ProcessClassifier(
        tuple(meta["processes"]),
        FeatureTransform.from_dict(meta["transform"]),
        net,
        np.asarray(meta["log_prior"], dtype=np.float64),
        float(meta["temperature"]),
        np.asarray(meta["bias"], dtype=np.float64),
        TrainHistory.from_dict(meta["history"]) if meta.get("history") else None,
        CalibrationResult(
            float(cal["temperature"]), tuple(cal["bias"]), float(cal["nll_before"]),
            float(cal["nll_after"]), int(cal["n_events"]),
        ) if cal else None,
        int(meta.get("members", 1)),  # files written before ensembles: one network
    )  # fmt: skip
