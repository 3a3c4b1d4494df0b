r"""Fast per-event evaluation of several MLPs that share one :class:`FeatureTransform`.

Used by :meth:`unbinned.ml.SurrogateModel.precompute` (the classifier and every
response network of a region read the same inputs).  The result equals evaluating
``net(torch.from_numpy(transform(x)))`` network by network, up to float32 rounding
of the matrix products; it is faster because

* events are processed in chunks of a few thousand, small enough that every
  intermediate stays in the CPU cache, through preallocated buffers (``out=``,
  in-place activations): no allocation per chunk;
* the work runs in the *transposed* layout (features × events): the columns of a
  ``pandas`` float block are contiguous there, the standardisation, ``log1p`` and
  missing-value masking act on contiguous rows of the input, and the outputs of
  one network are contiguous rows;
* the first layers of all networks form one matrix product; the later layers of
  networks of one architecture (the responses) run as one batched product
  (``torch.baddbmm``), and their outputs are directly the (process, monomial)
  rows of Δ;
* the float64 results are written straight into the caller's arrays.

The preprocessing reproduces :meth:`FeatureTransform.__call__` operation by
operation in float32 (``max(x, 0)``, ``log1p``, ``- mean``, ``* (1/scale)``, zero
where a missing group is absent, indicator appended), so the network inputs are the
same numbers; the feature rows are only permuted (log features and the columns of
each missing group made contiguous), with the first-layer weights permuted alike.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from unbinned.ml._features import FeatureTransform
from unbinned.ml.networks import ACTIVATIONS, MLP
from unbinned.ml.runtime import torch_threads

__all__ = ["FusedEvaluator"]

CHUNK = 2048
"""Default events per chunk (buffers of about 1.5 MB: they stay in the CPU cache)."""

_INPLACE: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "silu": lambda h: nn.functional.silu(h, inplace=True),
    "relu": torch.relu_,
    "tanh": torch.tanh_,
}


def _runs(rows: Sequence[int]) -> list[slice]:
    """Sorted row indices as a list of contiguous slices."""
    out: list[slice] = []
    for r in sorted(rows):
        if out and out[-1].stop == r:
            out[-1] = slice(out[-1].start, r + 1)
        else:
            out.append(slice(r, r + 1))
    return out


def _linears(net: MLP) -> list[nn.Linear]:
    return [m for m in net.layers if isinstance(m, nn.Linear)]


class _Group:
    """Networks sharing hidden widths after the first layer, outputs and activation."""

    def __init__(self, members: list[int], nets: Sequence[MLP], first_rows: list[slice]) -> None:
        self.members = members
        self.first_rows = first_rows  # rows of the fused first-layer output, per member
        self.activation = nets[0].activation
        lin = [_linears(n) for n in nets]
        with torch.no_grad():
            # weights (G, out, in) and biases (G, out, 1) of the layers after the first
            self.layers = [
                (
                    torch.stack([ls[k].weight for ls in lin]).contiguous(),
                    torch.stack([ls[k].bias for ls in lin])[:, :, None].contiguous(),
                )
                for k in range(1, len(lin[0]))
            ]
        self.widths = [n.n_outputs for n in nets]
        self.contiguous_input = all(a.stop == b.start for a, b in itertools.pairwise(first_rows))


class FusedEvaluator:
    """Evaluate MLPs reading the outputs of one transform, chunk by chunk (see module doc).

    Parameters
    ----------
    transform
        The shared preprocessing (raw features -> network inputs).
    nets
        Networks with at least one hidden layer, ``n_inputs == transform.n_outputs``
        and float32 parameters on the CPU (:meth:`supported`).
    post
        Optional post-processing per network index, applied chunk by chunk: it maps
        the network's float32 outputs in the transposed layout, shape (n_outputs, b),
        to the values written (same shape, e.g. the classifier's calibrated softmax in
        float64).
    chunk
        Events per chunk.
    """

    def __init__(
        self,
        transform: FeatureTransform,
        nets: Sequence[MLP],
        *,
        post: Mapping[int, Callable[[torch.Tensor], torch.Tensor]] | None = None,
        chunk: int = CHUNK,
    ) -> None:
        if not self.supported(transform, nets):
            raise ValueError("networks not supported by the fused evaluator")
        self.transform = transform
        self.chunk = int(chunk)
        self.post = dict(post or {})
        f = transform.n_features
        index = {c: j for j, c in enumerate(transform.feature_names)}
        logs = {index[c] for c in transform.log_features}
        group_of: dict[int, int] = {}
        for gi, g in enumerate(transform.missing_groups):
            for c in g.columns:
                group_of.setdefault(index[c], gi)

        def key(j: int) -> tuple[int, int]:
            # [plain][group 0: not log, log][log only][group g >= 1: log, not log]:
            # log rows and each group's rows contiguous for up to two groups
            g = group_of.get(j)
            if g is None:
                return (2, 0) if j in logs else (0, 0)
            if g == 0:
                return (1, int(j in logs))
            return (2 + g, int(j not in logs))

        order = sorted(range(f), key=key)  # buffer row r holds feature order[r]
        row_of = {j: r for r, j in enumerate(order)}
        self.order = np.array(order, dtype=np.intp)
        self.log_rows = _runs([row_of[j] for j in logs])
        self.group_rows = [
            _runs([row_of[index[c]] for c in g.columns]) for g in transform.missing_groups
        ]
        self.group_keys = [index[g.key] for g in transform.missing_groups]
        self.missing_value = float(transform.missing_value)
        self.mean = torch.tensor(transform.mean[order], dtype=torch.float32)[:, None]
        self.inv_scale = torch.tensor((1.0 / transform.scale)[order], dtype=torch.float32)[:, None]
        # first layers of all networks as one matrix, input columns permuted like the rows
        perm = torch.tensor(order + list(range(f, transform.n_outputs)), dtype=torch.long)
        with torch.no_grad():
            firsts = [_linears(n)[0] for n in nets]
            self.w0 = torch.cat([lin.weight[:, perm] for lin in firsts]).contiguous()
            self.b0 = torch.cat([lin.bias for lin in firsts])[:, None].contiguous()
        starts = np.cumsum([0] + [lin.out_features for lin in firsts])
        rows0 = [slice(int(a), int(b)) for a, b in itertools.pairwise(starts)]
        self.act0 = [(rows0[k], nets[k].activation) for k in range(len(nets))]
        if len({n.activation for n in nets}) == 1:
            self.act0 = [(slice(0, int(starts[-1])), nets[0].activation)]
        keyed: dict[tuple[Any, ...], list[int]] = {}
        for k, n in enumerate(nets):
            keyed.setdefault((n.hidden[1:], n.hidden[0], n.n_outputs, n.activation), []).append(k)
        self.groups = [
            _Group(ks, [nets[k] for k in ks], [rows0[k] for k in ks]) for ks in keyed.values()
        ]
        self.n_nets = len(nets)

    @staticmethod
    def supported(transform: FeatureTransform, nets: Sequence[MLP]) -> bool:
        """Whether :class:`FusedEvaluator` can run these networks (else: evaluate one by one)."""
        for n in nets:
            if not isinstance(n, MLP) or not n.hidden or n.n_inputs != transform.n_outputs:
                return False
            p = next(n.parameters())
            if p.dtype != torch.float32 or p.device.type != "cpu":
                return False
        return bool(nets)

    # ------------------------------------------------------------------ evaluation
    def _buffers(self, b: int) -> dict[str, Any]:
        f = self.transform.n_features
        bufs: dict[str, Any] = {
            "x": torch.empty((self.transform.n_outputs, b), dtype=torch.float32),
            "h0": torch.empty((self.w0.shape[0], b), dtype=torch.float32),
            "key": np.empty(b, dtype=bool),
        }
        bufs["x_np"] = bufs["x"].numpy()[:f]
        for gi, g in enumerate(self.groups):
            for li, (w, _) in enumerate(g.layers):
                bufs[f"g{gi}l{li}"] = torch.empty((w.shape[0], w.shape[1], b), dtype=torch.float32)
        return bufs

    def _act(self, h: torch.Tensor, activation: str) -> torch.Tensor:
        fn = _INPLACE.get(activation)
        if fn is not None:
            return fn(h)
        h.copy_(ACTIVATIONS[activation]()(h))
        return h

    def _inputs(
        self,
        base: npt.NDArray[Any],
        cols: npt.NDArray[np.intp],
        sl: slice,
        bufs: dict[str, Any],
    ) -> torch.Tensor:
        """Fill the (n_outputs, b) input buffer from rows ``sl`` of ``base[:, cols]``."""
        b = sl.stop - sl.start
        picked = cols[self.order]
        x: torch.Tensor = bufs["x"]
        xn: npt.NDArray[np.float32] = bufs["x_np"]
        name = f"raw_{base.dtype}"
        if name not in bufs:
            bufs[name] = np.empty((len(picked), b), dtype=base.dtype)
        raw = bufs[name]
        np.take(base.T[:, sl], picked, axis=0, out=raw)  # no temporary per chunk
        xn[...] = raw  # cast to float32 as FeatureTransform does
        f = self.transform.n_features
        for rows in self.log_rows:
            torch.log1p_(x[rows].clamp_min_(0.0))
        x[:f].sub_(self.mean).mul_(self.inv_scale)
        key: npt.NDArray[np.bool_] = bufs["key"][:b]
        for i, (kc, rows_list) in enumerate(zip(self.group_keys, self.group_rows, strict=True)):
            np.not_equal(base[sl, cols[kc]], self.missing_value, out=key)
            present = torch.from_numpy(key)
            x[f + i].copy_(present)
            absent = ~present
            for rows in rows_list:
                x[rows].masked_fill_(absent, 0.0)
        return x

    def run(
        self,
        base: npt.NDArray[Any],
        columns: npt.NDArray[np.intp] | None,
        targets: Sequence[tuple[npt.NDArray[np.float64], int]],
        threads: int = 1,
    ) -> None:
        """Evaluate all networks on ``base[:, columns]`` and write the float64 outputs.

        Parameters
        ----------
        base
            Raw features (N, ≥F), float32 or float64, any memory order.
        columns
            The model's features in ``base`` (None: all columns, in order).
        targets
            Per network ``(array, offset)``: its outputs go to
            ``array[:, offset:offset + n_outputs]`` (``array`` float64, shape (N, ·)).
        """
        n = len(base)
        cols = np.arange(base.shape[1]) if columns is None else np.asarray(columns)
        workers = max(1, min(int(threads), -(-n // self.chunk)))
        with torch_threads(1), torch.inference_mode():
            if workers == 1:
                self._range(base, cols, 0, n, targets)
                return
            # contiguous shards, one per worker thread (torch and numpy release the GIL)
            edges = [round(n * k / workers / self.chunk) * self.chunk for k in range(workers)]
            edges.append(n)
            with ThreadPoolExecutor(workers) as pool:
                futures = [
                    pool.submit(self._worker, base, cols, a, b, targets)
                    for a, b in itertools.pairwise(edges)
                ]
                for fut in futures:
                    fut.result()

    def _worker(
        self,
        base: npt.NDArray[Any],
        cols: npt.NDArray[np.intp],
        start: int,
        stop: int,
        targets: Sequence[tuple[npt.NDArray[np.float64], int]],
    ) -> None:
        # a new thread starts with the default OpenMP team size: one intra-op thread here,
        # or each worker would spawn (spinning) OpenMP threads of its own
        torch.set_num_threads(1)
        with torch.inference_mode():
            self._range(base, cols, start, stop, targets)

    def _range(
        self,
        base: npt.NDArray[Any],
        cols: npt.NDArray[np.intp],
        start: int,
        stop: int,
        targets: Sequence[tuple[npt.NDArray[np.float64], int]],
    ) -> None:
        bufs: dict[str, Any] | None = None
        for a in range(start, stop, self.chunk):
            sl = slice(a, min(a + self.chunk, stop))
            b = sl.stop - sl.start
            if bufs is None or bufs["x"].shape[1] != b:
                bufs = self._buffers(b)
            self._chunk(base, cols, sl, bufs, targets)

    def _chunk(
        self,
        base: npt.NDArray[Any],
        cols: npt.NDArray[np.intp],
        sl: slice,
        bufs: dict[str, Any],
        targets: Sequence[tuple[npt.NDArray[np.float64], int]],
    ) -> None:
        x = self._inputs(base, cols, sl, bufs)
        h0: torch.Tensor = torch.addmm(self.b0, self.w0, x, out=bufs["h0"])
        for rows, activation in self.act0:
            self._act(h0[rows], activation)
        b = x.shape[1]
        for gi, g in enumerate(self.groups):
            if g.contiguous_input:
                start = g.first_rows[0].start
                h = h0[start : g.first_rows[-1].stop].view(len(g.members), -1, b)
            else:
                h = torch.stack([h0[r] for r in g.first_rows])
            last = len(g.layers) - 1
            for li, (w, bias) in enumerate(g.layers):
                h = torch.baddbmm(bias, w, h, out=bufs[f"g{gi}l{li}"])
                if li < last:
                    h = self._act(h, g.activation)
            self._write(g, h, sl, targets, bufs)

    def _write(
        self,
        g: _Group,
        out: torch.Tensor,
        sl: slice,
        targets: Sequence[tuple[npt.NDArray[np.float64], int]],
        bufs: dict[str, Any],
    ) -> None:
        """Copy the (G, O, b) float32 outputs into the float64 targets (merged where adjacent).

        The transposition runs in float32 into a buffer, then one contiguous cast-copy
        (faster than a transposing cast).
        """
        b = out.shape[2]
        k = 0
        members = g.members
        while k < len(members):
            arr, off = targets[members[k]]
            width = g.widths[k]
            j = k + 1
            while (
                j < len(members)
                and members[k] not in self.post
                and members[j] not in self.post
                and targets[members[j]][0] is arr
                and targets[members[j]][1] == off + width
            ):
                width += g.widths[j]
                j += 1
            src = out[k:j].reshape(width, b)
            hook = self.post.get(members[k])
            dest = torch.from_numpy(arr[sl, off : off + width])
            if hook is not None:
                dest.copy_(hook(src).T)
            else:
                name = f"t{width}"
                if name not in bufs or bufs[name].shape[0] != b:
                    bufs[name] = torch.empty((b, width), dtype=torch.float32)
                tbuf: torch.Tensor = bufs[name]
                dest.copy_(tbuf.copy_(src.T))
            k = j
