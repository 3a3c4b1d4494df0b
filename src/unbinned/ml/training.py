"""The training runner: configuration, seeds, device, the loop, checkpoints and resume.

:func:`train_network` minimises a weighted loss over one or more *streams* of
event tensors (e.g. labelled events for the classifier; nominal events and a
pool of varied events for a response network) with Adam, a cosine learning-rate
schedule and early stopping on a validation split, and returns the network at
its best validation epoch.

Determinism: the initial weights come from ``torch.manual_seed(seed)`` inside
``torch.random.fork_rng`` (no global state leaks out); the mini-batches of epoch
``e`` are a permutation drawn from ``numpy.random.default_rng([seed, e])``; the
learning rate is a function of the epoch only.  On CPU, with a fixed number of
threads, two runs with the same seed give bit-identical weights.

Checkpoints: with ``checkpoint_dir`` set, the state after every epoch (current
and best weights, Adam's moments, the history) is written atomically to one
safetensors file (the JSON state in its header; never pickled).  Running again
with the same configuration resumes after the last completed epoch (an
interrupted and resumed training gives the same weights as an uninterrupted
one); a finished network is reloaded without training.

Threads: on a machine shared with other busy processes, torch's intra-op thread
pool makes the small matrix products of these networks orders of magnitude slower
(threads wait for each other's time slices; 2 threads were measured 50× slower
than 1 on a loaded 2-core machine).  Use :func:`torch_threads` (or
``run=RunOptions(num_threads=1)``, :mod:`unbinned.ml.runtime`) there.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn
from tqdm.auto import tqdm

from unbinned._io import atomic_path
from unbinned.exceptions import ConfigError, ModelFileError, TrainingWarning
from unbinned.ml.runtime import RunOptions, resolve_device, resolve_dtype, torch_threads

__all__ = [
    "Adam",
    "LossFn",
    "RunOptions",
    "TrainConfig",
    "TrainHistory",
    "TrainPlan",
    "resolve_device",
    "resolve_dtype",
    "seeded",
    "torch_threads",
    "train_network",
]

Stream = Sequence[torch.Tensor]
LossFn = Callable[[nn.Module, list[tuple[torch.Tensor, ...]]], torch.Tensor]
"""``loss(net, batches) -> scalar``: the weighted *sum* of per-event losses of one
batch (one tuple of tensors per stream), with per-event weights normalised so that
the sum over all batches of an epoch is the full loss."""


PLAN_BATCHES_PER_EPOCH = 20
"""Batches per epoch the planned batch size aims for (the epoch is early stopping's unit)."""
PLAN_MIN_BATCH_SIZE = 32
"""The smallest planned batch size."""
FEW_STEPS = 300
"""Fewer optimiser steps than this warn (:class:`~unbinned.exceptions.TrainingWarning`)."""


@dataclass(frozen=True)
class TrainPlan:
    """The batch size, epochs and patience one training uses (:meth:`TrainConfig.plan`).

    ``planned`` names the values the plan chose (the others were given explicitly).
    """

    n_events: int
    batch_size: int
    epochs: int
    patience: int
    batches_per_epoch: int
    planned: tuple[str, ...] = ()

    @property
    def max_steps(self) -> int:
        """Optimiser steps if early stopping does not stop the training."""
        return self.epochs * self.batches_per_epoch

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        out = asdict(self)
        out["planned"] = list(self.planned)
        return out


@dataclass(frozen=True)
class TrainConfig:
    r"""Hyper-parameters of one network's training.

    The number of epochs and the batch size are *planned* from the number of
    training events :math:`n` (of the largest stream) unless given
    (:meth:`plan`): the batch size is :math:`b = \mathrm{clip}(\lfloor n/20
    \rfloor, 32, \texttt{max\_batch\_size})`, so that an epoch has about 20
    batches on small samples, and the epochs :math:`E = \mathrm{clip}(\lceil
    \texttt{min\_steps} / \lceil n/b \rceil \rceil, \texttt{min\_epochs},
    \texttt{max\_epochs})`, so that a small sample is trained for at least
    ``min_steps`` optimiser steps while a large one keeps ``min_epochs`` epochs of
    ``max_batch_size`` events.  When the plan raises the epochs above ``min_epochs``
    the patience grows in proportion (early stopping, on the validation loss, stays
    in charge of when the training ends).  Explicit ``epochs`` and ``batch_size``
    are used as given; a training of fewer than :data:`FEW_STEPS` optimiser steps
    warns (:class:`~unbinned.exceptions.TrainingWarning`).

    Parameters
    ----------
    hidden, activation
        Hidden-layer widths and activation of the MLP.
    epochs
        Maximum number of epochs (None: planned).
    batch_size
        Events per mini-batch of the largest stream (None: planned).
    learning_rate
        Adam's initial learning rate; cosine decay to ``learning_rate * final_lr_factor``.
    final_lr_factor
        Ratio of the last epoch's to the first epoch's learning rate.
    weight_decay
        Adam's L2 weight decay.
    patience
        Stop after this many epochs without a lower validation loss (scaled with the
        planned epochs over ``min_epochs``).
    validation_fraction
        Share of the events held out for early stopping.
    min_steps
        Optimiser steps the plan aims for.
    min_epochs, max_epochs
        Bounds of the planned number of epochs.
    max_batch_size
        The largest planned batch size (the batch size on large samples).

    Examples
    --------
    >>> plan = TrainConfig().plan(3000)
    >>> plan.batch_size, plan.batches_per_epoch, plan.epochs, plan.patience
    (150, 20, 50, 9)
    >>> TrainConfig().plan(1_000_000).max_steps
    14670
    """

    hidden: tuple[int, ...] = (64, 64)
    activation: str = "silu"
    epochs: int | None = None
    batch_size: int | None = None
    learning_rate: float = 2e-3
    final_lr_factor: float = 0.05
    weight_decay: float = 0.0
    patience: int = 5
    validation_fraction: float = 0.2
    min_steps: int = 1000
    min_epochs: int = 30
    max_epochs: int = 300
    max_batch_size: int = 2048

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        checks = (
            ("epochs", self.epochs is None or self.epochs >= 1),
            ("batch_size", self.batch_size is None or self.batch_size >= 1),
            ("learning_rate", self.learning_rate > 0 and math.isfinite(self.learning_rate)),
            ("final_lr_factor", 0 < self.final_lr_factor <= 1),
            ("weight_decay", self.weight_decay >= 0),
            ("patience", self.patience >= 1),
            ("validation_fraction", 0 < self.validation_fraction < 1),
            ("min_steps", self.min_steps >= 0),
            ("min_epochs", self.min_epochs >= 1),
            ("max_epochs", self.max_epochs >= self.min_epochs),
            ("max_batch_size", self.max_batch_size >= 1),
        )
        for name, ok in checks:
            if not ok:
                raise ConfigError(f"TrainConfig.{name}={getattr(self, name)!r} is out of range")

    def plan(self, n_events: int) -> TrainPlan:
        """The batch size, epochs and patience of a training on ``n_events`` (class docstring)."""
        n = max(1, int(n_events))
        planned = []
        batch = self.batch_size
        if batch is None:
            planned.append("batch_size")
            batch = min(self.max_batch_size, max(PLAN_MIN_BATCH_SIZE, n // PLAN_BATCHES_PER_EPOCH))
        per_epoch = max(1, math.ceil(n / batch))
        epochs, patience = self.epochs, self.patience
        if epochs is None:
            planned.append("epochs")
            wanted = math.ceil(self.min_steps / per_epoch)
            epochs = min(self.max_epochs, max(self.min_epochs, wanted))
            patience = max(patience, math.ceil(patience * epochs / self.min_epochs))
        return TrainPlan(n, batch, epochs, patience, per_epoch, tuple(planned))

    def planned(self, n_events: int) -> TrainConfig:
        """A copy with the plan's epochs, batch size and patience filled in."""
        p = self.plan(n_events)
        return replace(self, epochs=p.epochs, batch_size=p.batch_size, patience=p.patience)

    def learning_rate_at(self, epoch: int) -> float:
        """Cosine schedule: the learning rate of (0-based) ``epoch`` (needs ``epochs`` set)."""
        if self.epochs is None:
            raise ConfigError("learning_rate_at needs epochs; use TrainConfig.planned(n) first")
        if self.epochs == 1:
            return self.learning_rate
        t = epoch / (self.epochs - 1)
        low = self.learning_rate * self.final_lr_factor
        return low + 0.5 * (self.learning_rate - low) * (1.0 + math.cos(math.pi * t))

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        out = asdict(self)
        out["hidden"] = list(self.hidden)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict` (unknown keys are an error)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(
                f"unknown TrainConfig key(s) {unknown}; expected some of {sorted(known)}"
            )
        return cls(**dict(data))


@dataclass
class TrainHistory:
    """What happened during a training: losses per epoch, the best epoch, timing, the plan.

    ``plan`` is the :class:`TrainPlan` (as a dict) the training followed and ``steps``
    the optimiser steps it took.
    """

    name: str
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    best_epoch: int = -1
    best_val_loss: float = math.inf
    stopped_early: bool = False
    resumed_at_epoch: int | None = None
    seconds: float = 0.0
    device: str = "cpu"
    plan: dict[str, Any] | None = None
    steps: int = 0

    @property
    def epochs_run(self) -> int:
        """Number of completed epochs."""
        return len(self.train_loss)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainHistory:
        """Inverse of :meth:`to_dict`."""
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})

    def __repr__(self) -> str:
        last = f"{self.val_loss[-1]:.6g}" if self.val_loss else "-"
        return (
            f"TrainHistory({self.name!r}: {self.epochs_run} epochs, {self.steps} steps, "
            f"best epoch {self.best_epoch} "
            f"val loss {self.best_val_loss:.6g}, last val {last}, "
            f"{'stopped early, ' if self.stopped_early else ''}"
            f"{self.seconds:.1f} s on {self.device})"
        )


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run the block with torch's CPU generator seeded, restoring the global state after."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        yield


def _fingerprint(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def _stream_sizes(streams: Sequence[Stream], what: str) -> list[int]:
    sizes = []
    for i, stream in enumerate(streams):
        if not stream:
            raise ConfigError(f"{what} stream {i} has no tensors")
        n = stream[0].shape[0]
        if any(t.shape[0] != n for t in stream):
            raise ConfigError(f"{what} stream {i} has tensors of different lengths")
        sizes.append(int(n))
    if not sizes or max(sizes) == 0:
        raise ConfigError(f"the {what} data are empty; expected at least one event")
    return sizes


def _batches(
    sizes: Sequence[int],
    batch_size: int,
    seed: int,
    epoch: int,
    device: torch.device | None = None,
) -> list[list[torch.Tensor]]:
    """Per batch, one index array per stream (a permutation split in equal parts).

    Each stream's permutation is copied to ``device`` once per epoch and split there
    into views (``torch.tensor_split`` makes the same parts as ``numpy.array_split``),
    rather than one host-to-device copy per batch.
    """
    rng = np.random.default_rng([int(seed), int(epoch)])
    n_batches = max(1, math.ceil(max(sizes) / batch_size))
    per_stream = [
        torch.tensor_split(torch.from_numpy(rng.permutation(n)).to(device), n_batches)
        for n in sizes
    ]
    return [[p[b] for p in per_stream] for b in range(n_batches)]


def _chunks(sizes: Sequence[int], chunk: int) -> list[list[slice]]:
    n_chunks = max(1, math.ceil(max(sizes) / chunk))
    out = []
    for c in range(n_chunks):
        out.append([slice(n * c // n_chunks, n * (c + 1) // n_chunks) for n in sizes])
    return out


def _evaluate(
    net: nn.Module, loss_fn: LossFn, streams: Sequence[Stream], chunk: int = 65536
) -> float:
    sizes = _stream_sizes(streams, "validation")
    total = 0.0
    with torch.no_grad():
        for sl in _chunks(sizes, chunk):
            batch = [tuple(t[s] for t in stream) for stream, s in zip(streams, sl, strict=True)]
            total += float(loss_fn(net, batch))
    return total


# ---------------------------------------------------------------------------- optimiser
class Adam:
    """Adam (Kingma & Ba, arXiv:1412.6980) with L2 weight decay, as ``torch.optim.Adam``.

    The same update as PyTorch's single-tensor implementation, written out so that
    its state is three plain things to checkpoint (step, first and second moments)
    and so that training does not import ``torch._dynamo`` (seconds at start-up).
    """

    def __init__(
        self,
        params: Sequence[torch.nn.Parameter],
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        self.params = list(params)
        self.lr = lr
        self.betas = betas
        self.eps = eps
        self.weight_decay = weight_decay
        self.step_count = 0
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]

    def zero_grad(self) -> None:
        """Drop the gradients."""
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """One update with the current gradients.

        The update of all parameters at once with PyTorch's multi-tensor (``_foreach``)
        kernels, as ``torch.optim.Adam(foreach=True)`` does: the same arithmetic as a
        loop over the parameters, in a few kernel launches instead of a few per
        parameter (on a GPU the small networks here are bound by launches).
        """
        self.step_count += 1
        b1, b2 = self.betas
        bc1 = 1.0 - b1**self.step_count
        bc2_sqrt = math.sqrt(1.0 - b2**self.step_count)
        live = [i for i, p in enumerate(self.params) if p.grad is not None]
        if not live:
            return
        params: list[torch.Tensor] = [self.params[i] for i in live]
        m = [self.m[i] for i in live]
        v = [self.v[i] for i in live]
        grads = [p.grad for p in params if p.grad is not None]
        if self.weight_decay != 0:
            grads = list(torch._foreach_add(grads, params, alpha=self.weight_decay))
        torch._foreach_lerp_(m, grads, 1.0 - b1)
        torch._foreach_mul_(v, b2)
        torch._foreach_addcmul_(v, grads, grads, value=1.0 - b2)
        denom = torch._foreach_sqrt(v)
        torch._foreach_div_(denom, bc2_sqrt)
        torch._foreach_add_(denom, self.eps)
        torch._foreach_addcdiv_(params, m, denom, value=-self.lr / bc1)

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """Moments as named tensors."""
        out = {f"opt.m.{i}": t.detach().cpu().contiguous() for i, t in enumerate(self.m)}
        out.update({f"opt.v.{i}": t.detach().cpu().contiguous() for i, t in enumerate(self.v)})
        return out

    def load(self, tensors: Mapping[str, torch.Tensor], step: int) -> None:
        """Restore the moments and the step count."""
        for i, p in enumerate(self.params):
            self.m[i] = tensors[f"opt.m.{i}"].to(device=p.device, dtype=p.dtype).clone()
            self.v[i] = tensors[f"opt.v.{i}"].to(device=p.device, dtype=p.dtype).clone()
        self.step_count = int(step)


# ---------------------------------------------------------------------------- checkpoints
def _save_checkpoint(
    path: Path,
    net: nn.Module,
    best: Mapping[str, torch.Tensor],
    opt: Adam,
    meta: dict[str, Any],
) -> None:
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    tensors.update({f"best.{k}": v.detach().cpu().contiguous() for k, v in best.items()})
    tensors.update(opt.state_tensors())
    meta = dict(meta, optimizer_step=opt.step_count)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={"state": json.dumps(meta)})


def _read_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = json.loads((f.metadata() or {})["state"])
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    except Exception as exc:  # safetensors raises several types on a corrupt file
        raise ModelFileError(
            f"checkpoint {str(path)!r} is unreadable ({exc}); delete it to restart the training"
        ) from exc
    return tensors, meta


def _prefixed(tensors: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    n = len(prefix)
    return {k[n:]: v for k, v in tensors.items() if k.startswith(prefix)}


# ---------------------------------------------------------------------------- the loop


def _prepare(
    streams: Sequence[Stream], dev: torch.device, dt: torch.dtype
) -> list[tuple[torch.Tensor, ...]]:
    """The streams on ``dev``, floating tensors cast to ``dt``."""
    return [
        tuple(t.to(device=dev, dtype=dt if t.is_floating_point() else t.dtype) for t in s)
        for s in streams
    ]


@dataclass
class _Run:
    """The state of a training that a checkpoint carries over."""

    history: TrainHistory
    best_state: dict[str, torch.Tensor]
    bad_epochs: int = 0
    start: int = 0
    done: bool = False


def _resume(
    ckpt: Path,
    key: str,
    ident: Mapping[str, Any],
    net: nn.Module,
    opt: Adam,
    dev: torch.device,
) -> _Run:
    """Load the checkpoint ``ckpt`` into ``net`` and ``opt``; its training state."""
    tensors, meta = _read_checkpoint(ckpt)
    if meta.get("key") != key:
        raise ConfigError(
            f"checkpoint {str(ckpt)!r} was made with another configuration, seed or "
            f"data (saved {meta.get('ident')}, now {ident}). Fix: use another "
            "checkpoint_dir or delete the file to start over"
        )
    net.load_state_dict(_prefixed(tensors, "model."))
    best_state = {k: v.to(dev) for k, v in _prefixed(tensors, "best.").items()}
    opt.load({k: v for k, v in tensors.items() if k.startswith("opt.")}, meta["optimizer_step"])
    history = TrainHistory.from_dict(meta["history"])
    history.device = str(dev)
    bad_epochs = int(meta["bad_epochs"])
    start = history.epochs_run
    history.resumed_at_epoch = start
    return _Run(history, best_state, bad_epochs, start, bool(meta["done"]))


def _train_epoch(
    net: nn.Module,
    loss_fn: LossFn,
    opt: Adam,
    train_t: list[tuple[torch.Tensor, ...]],
    sizes: list[int],
    config: TrainConfig,
    seed: int,
    epoch: int,
    dev: torch.device,
) -> float:
    """One pass over the training batches; the summed batch losses."""
    opt.lr = config.learning_rate_at(epoch)
    net.train()
    # the epoch's loss is summed on the device: reading it per batch would
    # synchronise the GPU at every step
    total_t = torch.zeros((), device=dev, dtype=torch.float64)
    batches = _batches(sizes, int(config.batch_size or 1), seed, epoch, dev)
    for idx in batches:
        batch = [tuple(t[i] for t in stream) for stream, i in zip(train_t, idx, strict=True)]
        loss = loss_fn(net, batch)
        opt.zero_grad()
        (loss * len(batches)).backward()
        opt.step()
        total_t += loss.detach()
    return float(total_t)


def _record_epoch(
    run: _Run, net: nn.Module, epoch: int, total: float, val: float, config: TrainConfig
) -> None:
    """Append the epoch's losses, keep the best state, update the early stopping."""
    history = run.history
    history.train_loss.append(total)
    history.val_loss.append(val)
    if not math.isfinite(history.best_val_loss) or val < history.best_val_loss - 1e-7 * abs(
        history.best_val_loss
    ):
        history.best_val_loss, history.best_epoch = val, epoch
        run.best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        run.bad_epochs = 0
    else:
        run.bad_epochs += 1
    run.done = run.bad_epochs >= config.patience or epoch == int(config.epochs or 1) - 1
    history.stopped_early = run.bad_epochs >= config.patience


def _run_epochs(
    net: nn.Module,
    loss_fn: LossFn,
    opt: Adam,
    train_t: list[tuple[torch.Tensor, ...]],
    val_t: list[tuple[torch.Tensor, ...]],
    sizes: list[int],
    config: TrainConfig,
    seed: int,
    dev: torch.device,
    run: _Run,
    progress: bool,
    on_epoch_end: Callable[[int, TrainHistory], None] | None,
    name: str,
    ckpt: Path | None,
    ckpt_id: Mapping[str, Any],
) -> None:
    """The epochs from ``run.start`` on, with progress bar and checkpoints (``ckpt_id``)."""
    history = run.history
    t0 = time.perf_counter()
    seconds_before = history.seconds
    bar = tqdm(
        total=config.epochs,
        initial=run.start,
        desc=name,
        disable=not progress or run.done,
        file=sys.stderr,
        leave=False,
        dynamic_ncols=True,
    )
    try:
        for epoch in range(run.start, int(config.epochs or 1)):
            if run.done:
                break
            total = _train_epoch(net, loss_fn, opt, train_t, sizes, config, seed, epoch, dev)
            net.eval()
            val = _evaluate(net, loss_fn, val_t)
            if not math.isfinite(val):
                raise FloatingPointError(
                    f"{name}: validation loss became {val} at epoch {epoch}; lower the "
                    "learning rate or check the weights for extreme values"
                )
            history.steps += math.ceil(max(sizes) / int(config.batch_size or 1))
            _record_epoch(run, net, epoch, total, val, config)
            history.seconds = seconds_before + time.perf_counter() - t0
            bar.update(1)
            bar.set_postfix(train=f"{total:.5g}", val=f"{val:.5g}", best=history.best_epoch)
            if ckpt is not None:
                meta = {
                    **ckpt_id,
                    "history": history.to_dict(),
                    "bad_epochs": run.bad_epochs,
                    "done": run.done,
                }
                _save_checkpoint(ckpt, net, run.best_state, opt, meta)
            if on_epoch_end is not None:
                on_epoch_end(epoch, history)
    finally:
        bar.close()


def train_network(
    net: nn.Module,
    loss_fn: LossFn,
    train: Sequence[Stream],
    validation: Sequence[Stream],
    *,
    config: TrainConfig,
    seed: int = 0,
    run: RunOptions | None = None,
    name: str = "network",
    fingerprint: Mapping[str, Any] | None = None,
    on_epoch_end: Callable[[int, TrainHistory], None] | None = None,
) -> TrainHistory:
    """Train ``net`` in place; return the history.  ``net`` ends at its best epoch.

    Parameters
    ----------
    net
        The network (moved to ``device`` and ``dtype``).
    loss_fn
        See :data:`LossFn`.
    train, validation
        Streams of tensors (each a sequence of equally long tensors); every batch
        holds one slice of every stream.  Floating tensors are cast to ``dtype``.
    config
        Hyper-parameters (epochs, batch size, learning rate, patience, ...); the
        epochs and batch size left unset are planned from the size of the largest
        training stream (:meth:`TrainConfig.plan`, recorded in the history).
    seed
        Seed of the batch order (the weights' initialisation is the caller's).
    run
        Device, precision, threads, progress bar and the checkpoint folder
        (:class:`~unbinned.ml.runtime.RunOptions`; default ``RunOptions()``); the checkpoint
        is ``<checkpoint_dir>/<name>.ckpt.safetensors``, resumed from when present.
    name
        Name of the network (bar label, checkpoint file name).
    fingerprint
        Anything JSON-able identifying the data and set-up: a checkpoint made with a
        different fingerprint, configuration or seed raises ConfigError instead of
        being resumed.
    on_epoch_end
        Called as ``on_epoch_end(epoch, history)`` after each epoch's checkpoint.
    """
    opts = run or RunOptions()
    with opts.threads():
        return _train_network(
            net, loss_fn, train, validation, config, seed, opts, name, fingerprint, on_epoch_end
        )


def _train_network(
    net: nn.Module,
    loss_fn: LossFn,
    train: Sequence[Stream],
    validation: Sequence[Stream],
    config: TrainConfig,
    seed: int,
    opts: RunOptions,
    name: str,
    fingerprint: Mapping[str, Any] | None,
    on_epoch_end: Callable[[int, TrainHistory], None] | None,
) -> TrainHistory:
    dev, dt = opts.torch_device, opts.torch_dtype
    net.to(device=dev, dtype=dt)
    train_t, val_t = _prepare(train, dev, dt), _prepare(validation, dev, dt)
    sizes = _stream_sizes(train_t, "training")
    _stream_sizes(val_t, "validation")
    plan = config.plan(max(sizes))
    opt = Adam(list(net.parameters()), lr=config.learning_rate, weight_decay=config.weight_decay)
    run = _Run(
        TrainHistory(name=name, device=str(dev), plan=plan.to_dict()),
        {k: v.detach().clone() for k, v in net.state_dict().items()},
    )
    ident = {
        "name": name,
        "config": config.to_dict(),
        "seed": int(seed),
        "dtype": str(dt),
        "train_sizes": sizes,
        "fingerprint": fingerprint,
    }
    key = _fingerprint(ident)
    folder = opts.checkpoint_path
    ckpt = None if folder is None else folder / f"{name}.ckpt.safetensors"
    if ckpt is not None and ckpt.exists():
        run = _resume(ckpt, key, ident, net, opt, dev)
    _run_epochs(
        net, loss_fn, opt, train_t, val_t, sizes, config.planned(max(sizes)), seed, dev, run,
        opts.progress, on_epoch_end, name, ckpt, {"key": key, "ident": ident},
    )  # fmt: skip
    net.load_state_dict(run.best_state)
    net.eval()
    warn_if_few_steps(run.history, plan)
    return run.history


def warn_if_few_steps(history: TrainHistory, plan: TrainPlan) -> None:
    """Warn (:class:`~unbinned.exceptions.TrainingWarning`) after under :data:`FEW_STEPS` steps.

    The message says why (explicit epochs or batch size, the epoch cap, or early
    stopping on a small sample) and what to change.
    """
    if history.steps >= FEW_STEPS:
        return
    if history.stopped_early:
        why = (
            f"early stopping ended it after {history.epochs_run} epochs (the validation loss "
            f"last improved at epoch {history.best_epoch}); more training events help"
        )
    elif plan.planned != ("batch_size", "epochs"):
        given = [k for k in ("batch_size", "epochs") if k not in plan.planned]
        why = (
            f"{' and '.join(given)} given explicitly; leave them unset (None) to have them "
            "planned from the sample, or raise them"
        )
    else:
        why = f"the epochs are capped at {plan.epochs}; raise max_epochs"
    warnings.warn(
        f"{history.name}: trained for only {history.steps} optimiser steps ({plan.n_events} "
        f"training events, batch size {plan.batch_size}, {plan.batches_per_epoch} batches per "
        f"epoch): {why}. An under-trained network gives overconfident, biased intervals",
        TrainingWarning,
        stacklevel=3,
    )
