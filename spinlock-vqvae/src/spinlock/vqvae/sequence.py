"""Sequence encoders and decoders for groups of TEMPORAL columns, one set of weights per group, run together.

The TEMPORAL input ``(batch, time, features)`` is partitioned into ``G`` groups of columns (the TEMPORAL
categories). Group ``g`` has its own encoder ``(batch, time, size_g) → (batch, latent_g)`` and its own decoder
``(batch, latent_g)`` and ``T`` ``→ (batch, T, size_g)``; no weight is shared between groups, so a group's
tokens describe its own columns only.

**Why grouped.** One small GRU per group would cost ``G`` times the kernel launches of one GRU, and a GRU over
32 steps is launch-bound on a CPU. Here every group is padded to the largest group's width and the groups are
a leading batch dimension of the weights: a GRU step is one batched matrix product for all groups, and the
convolutional models are grouped convolutions (``groups=G``). Padded input columns are zero and padded
outputs are dropped, so the padding weights never receive a gradient and the groups stay independent.

**Time length.** The encoders end in a reduction over time (the GRU's last state, or a mean over time after
the convolutions); the decoders are driven by the latent repeated at every step plus the normalised time
``t / (T − 1)`` in [0, 1]. So any ``T >= 1`` works, fixed within a batch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "GroupedConvDecoder",
    "GroupedConvEncoder",
    "GroupedGRUDecoder",
    "GroupedGRUEncoder",
    "GroupedLinear",
]


def activation_module(name: str) -> nn.Module:
    """The module of an activation name of :data:`~spinlock.vqvae.model_config.ACTIVATIONS`."""
    modules: dict[str, type[nn.Module]] = {"gelu": nn.GELU, "relu": nn.ReLU, "silu": nn.SiLU, "tanh": nn.Tanh}
    return modules[name]()


def time_channel(steps: int, like: torch.Tensor) -> torch.Tensor:
    """``(steps,)`` normalised time ``t / (steps − 1)`` (0 for a single step)."""
    if steps == 1:
        return like.new_zeros(1)
    return torch.linspace(0.0, 1.0, steps, device=like.device, dtype=like.dtype)


class GroupedLinear(nn.Module):
    """``G`` independent affine maps: ``(G, batch, in) → (G, batch, out)``.

    Group ``g`` reads only its first ``in_features[g]`` inputs (the rest are padding). Weights and biases are
    drawn from ``U(−b, b)`` with ``b = bound``, or like ``nn.Linear`` (``b = 1 / sqrt(in_features[g])``) when
    ``bound`` is ``None``.
    """

    def __init__(self, in_features: Sequence[int], out_features: int, bound: float | None = None) -> None:
        super().__init__()
        width = max(in_features)
        self.weight = nn.Parameter(torch.empty(len(in_features), out_features, width))
        self.bias = nn.Parameter(torch.empty(len(in_features), out_features))
        with torch.no_grad():
            for g, fan_in in enumerate(in_features):
                bound_g = bound if bound is not None else 1.0 / math.sqrt(fan_in)
                self.weight[g].uniform_(-bound_g, bound_g)
                self.bias[g].uniform_(-bound_g, bound_g)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias.unsqueeze(1), x, self.weight.transpose(1, 2))


class _ColumnGroups(nn.Module):
    """The index arithmetic between ``(…, features)`` and ``(…, G · width)`` (group-major, zero-padded)."""

    gather_index: torch.Tensor
    scatter_index: torch.Tensor

    def __init__(self, groups: Sequence[Sequence[int]], features: int) -> None:
        super().__init__()
        self.sizes = tuple(len(group) for group in groups)
        self.width = max(self.sizes)
        gather = torch.full(
            (len(groups), self.width), features, dtype=torch.long
        )  # `features`: the zero column
        scatter = torch.empty(features, dtype=torch.long)
        for g, group in enumerate(groups):
            gather[g, : len(group)] = torch.tensor(group, dtype=torch.long)
            for j, column in enumerate(group):
                scatter[column] = g * self.width + j
        self.register_buffer("gather_index", gather.flatten(), persistent=False)
        self.register_buffer("scatter_index", scatter, persistent=False)

    @property
    def n_groups(self) -> int:
        return len(self.sizes)

    def gather(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, time, features)`` → ``(batch, time, G · width)``, each group's columns then zeros."""
        padded = F.pad(x, (0, 1))
        return padded.index_select(2, self.gather_index)

    def scatter(self, y: torch.Tensor) -> torch.Tensor:
        """``(batch, time, G · width)`` → ``(batch, time, features)`` in the input's column order."""
        return y.index_select(2, self.scatter_index)


def gru_bound(hidden: int) -> float:
    """``nn.GRU`` draws every weight and bias from ``U(−1/sqrt(hidden), 1/sqrt(hidden))``."""
    return 1.0 / math.sqrt(hidden)


def _pad_latents(latents: Sequence[torch.Tensor], width: int) -> torch.Tensor:
    """One ``(batch, latent_g)`` per group → ``(G, batch, width)``, zero-padded."""
    return torch.stack([F.pad(z, (0, width - z.shape[1])) for z in latents])


class _GroupedGRU(nn.Module):
    """A stack of GRU layers, one set of weights per group, with ``nn.GRU``'s equations and initialisation
    (:func:`gru_bound`).

    Input ``(G, time, batch, 3·hidden)`` already projected for layer 0 (that projection depends on what the
    input is, so it belongs to the caller); output the last layer's states ``(G, time, batch, hidden)`` and
    final state ``(G, batch, hidden)``.
    """

    def __init__(self, groups: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.hidden = hidden
        bound = gru_bound(hidden)
        self.weight_hh = nn.ParameterList(
            nn.Parameter(torch.empty(groups, 3 * hidden, hidden).uniform_(-bound, bound))
            for _ in range(layers)
        )
        self.bias_hh = nn.ParameterList(
            nn.Parameter(torch.empty(groups, 3 * hidden).uniform_(-bound, bound)) for _ in range(layers)
        )
        self.input_layers = nn.ModuleList(
            GroupedLinear([hidden] * groups, 3 * hidden, bound) for _ in range(layers - 1)
        )

    def _layer(
        self, projected: torch.Tensor, state: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor
    ) -> torch.Tensor:
        h = self.hidden
        outputs = []
        weight_t = weight.transpose(1, 2)
        bias = bias.unsqueeze(1)
        # unbind, not projected[:, step]: the backward of each indexing would zero-fill a full-size gradient
        for x in projected.unbind(1):
            recurrent = torch.baddbmm(bias, state, weight_t)
            reset_update = torch.sigmoid(x[..., : 2 * h] + recurrent[..., : 2 * h])
            reset, update = reset_update[..., :h], reset_update[..., h:]
            candidate = torch.tanh(x[..., 2 * h :] + reset * recurrent[..., 2 * h :])
            state = candidate + update * (state - candidate)
            outputs.append(state)
        return torch.stack(outputs, 1)

    def forward(self, projected: torch.Tensor, initial: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``projected (G, T, B, 3H)``, ``initial (layers, G, B, H)`` → outputs ``(G, T, B, H)``, last state."""
        groups, steps, batch, _ = projected.shape
        sequence = self._layer(projected, initial[0], self.weight_hh[0], self.bias_hh[0])
        for index, layer in enumerate(self.input_layers, start=1):
            flat = sequence.reshape(groups, steps * batch, self.hidden)
            projected = layer(flat).view(groups, steps, batch, 3 * self.hidden)
            sequence = self._layer(projected, initial[index], self.weight_hh[index], self.bias_hh[index])
        return sequence, sequence[:, -1]


class GroupedGRUEncoder(nn.Module):
    """``(batch, time, features)`` → one ``(batch, latent_g)`` per group: a GRU over each group's columns,
    then a linear head on its last layer's final state."""

    def __init__(
        self, groups: Sequence[Sequence[int]], features: int, hidden: int, latents: Sequence[int], layers: int
    ) -> None:
        super().__init__()
        self.columns = _ColumnGroups(groups, features)
        self.latents = tuple(latents)
        self.layers = layers
        self.hidden = hidden
        self.input = GroupedLinear(self.columns.sizes, 3 * hidden, gru_bound(hidden))
        self.gru = _GroupedGRU(len(groups), hidden, layers)
        self.head = GroupedLinear([hidden] * len(groups), max(self.latents))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        batch, steps, _ = x.shape
        n = self.columns.n_groups
        grouped = self.columns.gather(x).view(batch, steps, n, self.columns.width)
        flat = grouped.permute(2, 1, 0, 3).reshape(n, steps * batch, self.columns.width)
        projected = self.input(flat).view(n, steps, batch, 3 * self.hidden)
        initial = x.new_zeros(self.layers, n, batch, self.hidden)
        _, last = self.gru(projected, initial)
        out = self.head(last)
        return tuple(out[g, :, :size] for g, size in enumerate(self.latents))


class GroupedGRUDecoder(nn.Module):
    """One ``(batch, latent_g)`` per group and ``T`` → ``(batch, T, features)``: per group, a GRU whose initial
    state is a function of the latent and whose input at step ``t`` is ``[latent, t / (T − 1)]``."""

    def __init__(
        self, groups: Sequence[Sequence[int]], features: int, hidden: int, latents: Sequence[int], layers: int
    ) -> None:
        super().__init__()
        self.columns = _ColumnGroups(groups, features)
        self.latents = tuple(latents)
        self.layers = layers
        self.hidden = hidden
        self.initial_state = GroupedLinear(self.latents, hidden * layers)
        self.input = GroupedLinear([size + 1 for size in self.latents], 3 * hidden, gru_bound(hidden))
        self.gru = _GroupedGRU(len(groups), hidden, layers)
        self.head = GroupedLinear([hidden] * len(groups), self.columns.width)

    def forward(self, latents: Sequence[torch.Tensor], steps: int) -> torch.Tensor:
        n, width = self.columns.n_groups, max(self.latents)
        z = _pad_latents(latents, width)  # (G, B, width)
        batch = z.shape[1]
        initial = (
            torch.tanh(self.initial_state(z)).view(n, batch, self.layers, self.hidden).permute(2, 0, 1, 3)
        )
        # the input [z, τ_t] is the same at every step but for τ: project z once, add τ_t times τ's column
        weight = self.input.weight  # (G, 3H, width + 1): z's columns, then τ's (padding between, never used)
        constant = torch.baddbmm(self.input.bias.unsqueeze(1), z, weight[:, :, :width].transpose(1, 2))
        tau_column = torch.stack([weight[g, :, size] for g, size in enumerate(self.latents)])  # (G, 3H)
        tau = time_channel(steps, z)
        projected = constant.unsqueeze(1) + tau.view(1, steps, 1, 1) * tau_column.view(n, 1, 1, -1)
        sequence, _ = self.gru(projected, initial.contiguous())
        out = self.head(sequence.reshape(n, steps * batch, self.hidden)).view(n, steps, batch, -1)
        return self.columns.scatter(out.permute(2, 1, 0, 3).reshape(batch, steps, -1))


def _grouped_convs(
    in_per_group: int, hidden: int, groups: int, layers: int, kernel_size: int, activation: str
) -> list[nn.Module]:
    convs: list[nn.Module] = []
    for index in range(layers):
        width = in_per_group if index == 0 else hidden
        convs += [
            nn.Conv1d(groups * width, groups * hidden, kernel_size, padding=kernel_size // 2, groups=groups),
            activation_module(activation),
        ]
    return convs


class GroupedConvEncoder(nn.Module):
    """``(batch, time, features)`` → one ``(batch, latent_g)`` per group: same-length 1-D convolutions over
    each group's columns with activations, a mean over time, then a linear head."""

    def __init__(
        self,
        groups: Sequence[Sequence[int]],
        features: int,
        hidden: int,
        latents: Sequence[int],
        layers: int,
        kernel_size: int,
        activation: str,
    ) -> None:
        super().__init__()
        self.columns = _ColumnGroups(groups, features)
        self.latents = tuple(latents)
        self.hidden = hidden
        n = len(groups)
        self.convs = nn.Sequential(
            *_grouped_convs(self.columns.width, hidden, n, layers, kernel_size, activation)
        )
        self.head = GroupedLinear([hidden] * n, max(self.latents))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        batch = x.shape[0]
        n = self.columns.n_groups
        pooled = self.convs(self.columns.gather(x).transpose(1, 2)).mean(2)  # (B, G·H)
        out = self.head(pooled.view(batch, n, self.hidden).transpose(0, 1))
        return tuple(out[g, :, :size] for g, size in enumerate(self.latents))


class GroupedConvDecoder(nn.Module):
    """One ``(batch, latent_g)`` per group and ``T`` → ``(batch, T, features)``: per group, same-length 1-D
    convolutions over ``[latent, t / (T − 1)]`` repeated at every step, then a pointwise projection."""

    def __init__(
        self,
        groups: Sequence[Sequence[int]],
        features: int,
        hidden: int,
        latents: Sequence[int],
        layers: int,
        kernel_size: int,
        activation: str,
    ) -> None:
        super().__init__()
        self.columns = _ColumnGroups(groups, features)
        self.latents = tuple(latents)
        n = len(groups)
        width = max(self.latents) + 1
        self.convs = nn.Sequential(
            *_grouped_convs(width, hidden, n, layers, kernel_size, activation),
            nn.Conv1d(n * hidden, n * self.columns.width, 1, groups=n),
        )

    def forward(self, latents: Sequence[torch.Tensor], steps: int) -> torch.Tensor:
        n, width = self.columns.n_groups, max(self.latents)
        z = _pad_latents(latents, width)  # (G, B, width)
        batch = z.shape[1]
        tau = time_channel(steps, z).view(1, 1, 1, steps).expand(n, batch, 1, steps)
        inputs = torch.cat([z.unsqueeze(3).expand(n, batch, width, steps), tau], 2)  # (G, B, width + 1, T)
        out = self.convs(inputs.transpose(0, 1).reshape(batch, n * (width + 1), steps))
        return self.columns.scatter(out.transpose(1, 2))
