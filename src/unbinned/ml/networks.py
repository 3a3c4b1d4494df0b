r"""The networks: small multilayer perceptrons as ``torch.nn.Module``\ s.

* :class:`MLP`: a fully connected network (``Linear`` + activation, repeated).
* :class:`ClassifierNet`: an MLP whose P outputs are the logits of the processes.
* :class:`ResponseNet`: an MLP whose M outputs are the shape coefficients
  :math:`\Delta(x)`, one per monomial of ν; the shape log-ratio at ν is
  :math:`\Delta(x)\cdot\varphi(\nu)`.  Its last layer starts at zero, so an
  untrained response is exactly 1.

Every network describes itself with :meth:`MLP.architecture` (a JSON-able dict)
and is rebuilt from it by :func:`build_network`; the weights travel separately
(safetensors, :mod:`unbinned.ml.serialization`).  Networks are small on purpose:
evaluation of a classifier and four responses must reach 10^6 events/s on two
CPU cores.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from unbinned.exceptions import ConfigError

__all__ = [
    "ACTIVATIONS",
    "MLP",
    "ClassifierNet",
    "ResponseNet",
    "StackedMLP",
    "average_networks",
    "build_network",
]

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "silu": nn.SiLU,
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
    "softplus": nn.Softplus,
}
"""Activation functions by name."""


class MLP(nn.Module):
    """Fully connected network ``n_inputs -> hidden... -> n_outputs``.

    Parameters
    ----------
    n_inputs, n_outputs
        Input and output widths.
    hidden
        Widths of the hidden layers.
    activation
        Name of the activation, one of :data:`ACTIVATIONS`.
    zero_last
        Initialise the last layer's weights and bias to zero.
    """

    kind = "mlp"

    def __init__(
        self,
        n_inputs: int,
        n_outputs: int,
        hidden: Sequence[int] = (64, 64),
        activation: str = "silu",
        *,
        zero_last: bool = False,
    ) -> None:
        super().__init__()
        for name, value in (("n_inputs", n_inputs), ("n_outputs", n_outputs)):
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name}={value!r}; expected an integer >= 1")
        widths = [int(h) for h in hidden]
        if any(h < 1 for h in widths):
            raise ConfigError(f"hidden widths {list(hidden)} must all be >= 1")
        if activation not in ACTIVATIONS:
            raise ConfigError(
                f"activation {activation!r} is unknown; expected one of {sorted(ACTIVATIONS)}"
            )
        self.n_inputs = n_inputs
        self.n_outputs = n_outputs
        self.hidden = tuple(widths)
        self.activation = activation
        layers: list[nn.Module] = []
        width = n_inputs
        for h in widths:
            layers += [nn.Linear(width, h), ACTIVATIONS[activation]()]
            width = h
        last = nn.Linear(width, n_outputs)
        if zero_last:
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)
        layers.append(last)
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Outputs, shape (N, n_outputs), for inputs (N, n_inputs)."""
        out: torch.Tensor = self.layers(x)
        return out

    def architecture(self) -> dict[str, Any]:
        """JSON description: kind, widths, activation (enough to rebuild the module)."""
        return {
            "kind": self.kind,
            "n_inputs": self.n_inputs,
            "n_outputs": self.n_outputs,
            "hidden": list(self.hidden),
            "activation": self.activation,
        }

    def expected_tensors(self) -> dict[str, tuple[int, ...]]:
        """Names and shapes of the state-dict tensors this architecture implies."""
        return {k: tuple(v.shape) for k, v in self.state_dict().items()}

    def extra_repr(self) -> str:
        """Shown inside the module's repr."""
        return f"kind={self.kind!r}"


class ClassifierNet(MLP):
    """MLP with one logit per process (outputs unnormalised log-probabilities)."""

    kind = "classifier"


class ResponseNet(MLP):
    r"""MLP with one output per monomial: :math:`\Delta(x)`; last layer zero-initialised."""

    kind = "response"

    def __init__(
        self,
        n_inputs: int,
        n_outputs: int,
        hidden: Sequence[int] = (64, 64),
        activation: str = "silu",
        *,
        zero_last: bool = True,
    ) -> None:
        super().__init__(n_inputs, n_outputs, hidden, activation, zero_last=zero_last)

    def shape_log_ratio(self, x: torch.Tensor, phi: torch.Tensor) -> torch.Tensor:
        r"""Δ(x)·φ: shape (N,) for φ of shape (M,), (N, K) for φ of shape (K, M)."""
        delta = self(x)
        return delta @ phi if phi.ndim == 1 else delta @ phi.T


class StackedMLP:
    """Several MLPs of one architecture evaluated together (inference only).

    The first layers are concatenated into one matrix product, the later ones run
    as batched products (``torch.baddbmm``) over the G networks, and the outputs are
    zero-padded to the widest one.  Same results as evaluating the networks one by
    one up to float rounding, with fewer, larger kernels (faster on CPU).

    Use :meth:`compatible` to check that the networks can be stacked.
    """

    def __init__(self, nets: Sequence[MLP]) -> None:
        if not self.compatible(nets):
            raise ConfigError("networks differ in inputs, hidden widths, activation or dtype")
        self.n_nets = len(nets)
        self.widths = [n.n_outputs for n in nets]
        out = max(self.widths)
        self.act = ACTIVATIONS[nets[0].activation]()
        linears = [[m for m in n.layers if isinstance(m, nn.Linear)] for n in nets]
        with torch.no_grad():
            self.w0 = torch.cat([ls[0].weight for ls in linears]).T.contiguous()
            self.b0 = torch.cat([ls[0].bias for ls in linears]).contiguous()
            self.mid: list[tuple[torch.Tensor, torch.Tensor]] = []
            for k in range(1, len(linears[0]) - 1):
                w = torch.stack([ls[k].weight.T for ls in linears]).contiguous()
                b = torch.stack([ls[k].bias for ls in linears])[:, None, :].contiguous()
                self.mid.append((w, b))
            h = linears[0][-1].in_features
            ref = linears[0][-1].weight
            self.w_last = torch.zeros(len(nets), h, out, dtype=ref.dtype, device=ref.device)
            self.b_last = torch.zeros(len(nets), 1, out, dtype=ref.dtype, device=ref.device)
            for g, ls in enumerate(linears):
                self.w_last[g, :, : ls[-1].out_features] = ls[-1].weight.T
                self.b_last[g, 0, : ls[-1].out_features] = ls[-1].bias
        self.hidden0 = nets[0].hidden[0]

    @staticmethod
    def compatible(nets: Sequence[MLP]) -> bool:
        """Whether the networks share inputs, hidden widths (at least one layer) and dtype."""
        if not nets or not nets[0].hidden:
            return False
        first = nets[0]
        dtype = next(first.parameters()).dtype
        return all(
            n.n_inputs == first.n_inputs
            and n.hidden == first.hidden
            and n.activation == first.activation
            and next(n.parameters()).dtype == dtype
            for n in nets
        )

    def to(self, device: torch.device) -> StackedMLP:
        """Move the stacked weights (in place); returns self."""
        self.w0, self.b0 = self.w0.to(device), self.b0.to(device)
        self.mid = [(w.to(device), b.to(device)) for w, b in self.mid]
        self.w_last, self.b_last = self.w_last.to(device), self.b_last.to(device)
        return self

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Outputs of all networks, shape (G, N, max output width), zero-padded."""
        h = self.act(torch.addmm(self.b0, x, self.w0))
        h = h.view(x.shape[0], self.n_nets, self.hidden0).transpose(0, 1)
        for w, b in self.mid:
            h = self.act(torch.baddbmm(b, h, w))
        return torch.baddbmm(self.b_last, h, self.w_last)


def average_networks(nets: Sequence[MLP]) -> MLP:
    r"""One MLP whose outputs are exactly the mean of the outputs of ``nets``.

    For K networks of one architecture (inputs, hidden widths, activation, outputs,
    kind) the result has the hidden widths K× as wide: its first layer stacks the
    members' first layers, every later hidden layer is block-diagonal (member k's
    units see only member k's units) and the last layer is the members' last layers
    side by side, scaled by 1/K,

    .. math:: f(x) = \frac1K \sum_{k=1}^K f_k(x),

    so that an ensemble evaluates, saves and loads as a single network (the same
    :meth:`MLP.architecture` and safetensors as any MLP).  Used for the classifier's
    ensemble of log-odds (:func:`unbinned.ml.train_classifier`, ``members``).
    """
    if not nets:
        raise ConfigError("average_networks needs at least one network")
    first = nets[0]
    arch = first.architecture()
    for net in nets[1:]:
        if net.architecture() != arch:
            raise ConfigError(
                f"networks of different architectures cannot be averaged: {arch} vs "
                f"{net.architecture()}"
            )
    k = len(nets)
    if k == 1:
        return first
    ref = next(first.parameters())
    merged = build_network({**arch, "hidden": [h * k for h in first.hidden]})
    merged.to(device=ref.device, dtype=ref.dtype)
    src = [[m for m in n.layers if isinstance(m, nn.Linear)] for n in nets]
    dst = [m for m in merged.layers if isinstance(m, nn.Linear)]
    with torch.no_grad():
        for layer, out in enumerate(dst):
            out.weight.zero_()
            out.bias.zero_()
            last = layer == len(dst) - 1
            for g, ls in enumerate(src):
                w, b = ls[layer].weight, ls[layer].bias
                rows = slice(None) if last else slice(g * w.shape[0], (g + 1) * w.shape[0])
                cols = slice(None) if layer == 0 else slice(g * w.shape[1], (g + 1) * w.shape[1])
                if last:
                    out.weight[:, cols] = w / k
                    out.bias.add_(b / k)
                else:
                    out.weight[rows, cols] = w
                    out.bias[rows] = b
    merged.train(first.training)
    return merged


_KINDS: dict[str, type[MLP]] = {"mlp": MLP, "classifier": ClassifierNet, "response": ResponseNet}


def build_network(architecture: Mapping[str, Any]) -> MLP:
    """Rebuild a network (untrained) from :meth:`MLP.architecture`; bad input: ConfigError."""
    try:
        kind = str(architecture["kind"])
        cls = _KINDS[kind]
        return cls(
            int(architecture["n_inputs"]),
            int(architecture["n_outputs"]),
            [int(h) for h in architecture["hidden"]],
            str(architecture["activation"]),
        )
    except KeyError as exc:
        raise ConfigError(
            f"network architecture {dict(architecture)!r} lacks or mis-names {exc}; expected "
            f"kind in {sorted(_KINDS)}, n_inputs, n_outputs, hidden, activation"
        ) from exc
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"malformed network architecture {dict(architecture)!r}: {exc}") from exc
