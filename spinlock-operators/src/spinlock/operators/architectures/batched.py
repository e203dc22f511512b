"""Operators batched by architecture signature: one computation for many operators.

**Signature.** :func:`architecture_signature` is the architecture name plus every config field that shapes
the computation (all fields except the config's ``PER_OPERATOR_FIELDS``: weight gain, dropout rate, AFNO
sparsity, which are applied per operator at initialisation). Operators with equal signatures (and the same
grid) can be stacked.

**Layout.** :class:`BatchedOperator` takes ``x`` of shape ``(O*M, C, H, W)``: rows ``o*M … o*M+M-1`` are the
``M`` realizations of the batch's operator ``o`` (the ``o``-th of ``operator_indices``). Internally the rows are
regrouped to ``(M, O*C, H, W)`` and every convolution is one grouped convolution with ``groups=O``; on the
project's 2-core CPU this measured ≈3× faster than a loop over operators and faster than ``torch.func.vmap``
(``benchmarks/bench_batched_operators.py``). Every normalisation is per sample and per operator, so each row's
output depends only on that row and its operator: rows never interact.

**Weights.** Operator ``i``'s parameters come only from ``torch_generator(derive_seed(root_seed, i,
"operator"))``, drawn on CPU in float32 in a fixed order (module registration order), then moved to the
device and dtype. They are therefore bit-identical in any process, on any device, at any position in any
stack; :func:`build_single` is a stack of one. Outputs of a stack and of a single build agree to
floating-point tolerance (grouped and plain convolutions may use different kernels).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import torch
from torch import nn

from spinlock.core.seeding import derive_seed, torch_generator
from spinlock.operators.architectures.cnn import StackedCNN
from spinlock.operators.architectures.configs import CNNConfig, UAFNOConfig
from spinlock.operators.architectures.u_afno import StackedUAFNO
from spinlock.operators.blocks.base import StackedModule

#: architecture name → config class
ARCHITECTURES: dict[str, type] = {"cnn": CNNConfig, "u_afno": UAFNOConfig}


def architecture_name(arch_config: Any) -> str:
    """The registered name of a config's architecture (``cnn`` or ``u_afno``)."""
    for name, cls in ARCHITECTURES.items():
        if type(arch_config) is cls:
            return name
    raise TypeError(f"not an architecture config: {type(arch_config).__name__}")


def architecture_signature(arch_config: Any) -> tuple[Any, ...]:
    """``(name, (field, value), …)`` over the fields that determine the computation's shape.

    Two operators can run as one stacked computation exactly when their signatures are equal (and their
    grids are the same). Per-operator fields (``PER_OPERATOR_FIELDS``) are left out.
    """
    name = architecture_name(arch_config)
    skip = set(type(arch_config).PER_OPERATOR_FIELDS)
    return (
        name,
        *(
            (f.name, getattr(arch_config, f.name))
            for f in attrs.fields(type(arch_config))
            if f.name not in skip
        ),
    )


class BatchedOperator(nn.Module):
    """``O`` operators of one architecture signature; ``forward`` maps ``(O*M, C, H, W) → (O*M, C, H, W)``.

    Rows ``o*M … o*M+M-1`` of the input are the realizations of operator ``operator_indices[o]``; any
    ``M >= 1`` works. Attributes: ``arch_name``, ``signature``, ``operator_indices``, ``configs`` (one per
    operator), ``grid_shape`` ``(C, H, W)``, ``net`` (the stacked module) and ``info`` (facts such as the
    effective ``modes`` of U-AFNO).
    """

    def __init__(
        self,
        arch_name: str,
        configs: Sequence[Any],
        operator_indices: Sequence[int],
        grid_shape: tuple[int, int, int],
        net: StackedModule,
        info: dict[str, Any],
    ) -> None:
        super().__init__()
        self.arch_name = arch_name
        self.configs = tuple(configs)
        self.signature = architecture_signature(configs[0])
        self.operator_indices = tuple(int(i) for i in operator_indices)
        self.grid_shape = grid_shape
        self.net = net
        self.info = info

    @property
    def num_operators(self) -> int:
        return len(self.operator_indices)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows, channels, height, width = x.shape
        ops = self.num_operators
        if rows % ops or channels != self.grid_shape[0]:
            raise ValueError(f"expected (O*M, {self.grid_shape[0]}, H, W) with O={ops}, got {tuple(x.shape)}")
        m = rows // ops
        grouped = (
            x.reshape(ops, m, channels, height, width)
            .transpose(0, 1)
            .reshape(m, ops * channels, height, width)
        )
        y = self.net(grouped)
        return (
            y.reshape(m, ops, channels, height, width).transpose(0, 1).reshape(rows, channels, height, width)
        )

    def extra_repr(self) -> str:
        return f"arch={self.arch_name!r}, operators={self.num_operators}, grid_shape={self.grid_shape}"


def _per_operator_init(config: Any) -> dict[str, float]:
    return {name: float(getattr(config, name)) for name in type(config).PER_OPERATOR_FIELDS}


def build_batched(
    arch_name: str,
    arch_config: Any | Sequence[Any],
    operator_indices: Sequence[int],
    root_seed: int,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    *,
    grid_shape: tuple[int, int, int],
) -> BatchedOperator:
    """Build the operators ``operator_indices`` as one stacked computation.

    :param arch_name: ``cnn`` or ``u_afno``.
    :param arch_config: one config shared by all operators, or one per operator; all must have the same
        :func:`architecture_signature` (their per-operator fields may differ).
    :param operator_indices: global operator indices (positions in the whole dataset).
    :param root_seed: the run's seed; operator ``i``'s weights come only from
        ``torch_generator(derive_seed(root_seed, i, "operator"))``.
    :param device: where the operator runs; weights are drawn on CPU first.
    :param dtype: parameter dtype (float32 by default; FFTs run in float32 regardless).
    :param grid_shape: ``(C, H, W)`` of the states: ``C`` is the operator's in/out channels.
    """
    if arch_name not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch_name!r}; available: {', '.join(ARCHITECTURES)}")
    indices = [int(i) for i in operator_indices]
    if not indices:
        raise ValueError("operator_indices is empty")
    configs: list[Any]
    if isinstance(arch_config, ARCHITECTURES[arch_name]):
        configs = [arch_config] * len(indices)
    else:
        configs = list(arch_config)
    if len(configs) != len(indices):
        raise ValueError(f"{len(configs)} configs for {len(indices)} operators")
    for config in configs:
        if not isinstance(config, ARCHITECTURES[arch_name]):
            raise TypeError(
                f"architecture {arch_name!r} needs {ARCHITECTURES[arch_name].__name__}, got {config!r}"
            )
    signature = architecture_signature(configs[0])
    for index, config in zip(indices, configs, strict=True):
        if architecture_signature(config) != signature:
            raise ValueError(
                f"operator {index} does not share the architecture signature of operator {indices[0]}: "
                f"{architecture_signature(config)} != {signature}"
            )
    channels, height, width = (int(v) for v in grid_shape)
    if channels < 1:
        raise ValueError(f"grid channels must be >= 1: {channels}")
    info: dict[str, Any] = {}
    net: StackedModule
    if arch_name == "cnn":
        net = StackedCNN(channels, configs[0], num_operators=len(indices))
    else:
        net = StackedUAFNO(channels, configs[0], (height, width), num_operators=len(indices))
        info["modes"] = net.effective_modes
        info["bottleneck_grid"] = net.bottleneck_grid
    generators = [torch_generator(derive_seed(root_seed, i, "operator"), "cpu") for i in indices]
    net.reset_parameters(generators, [_per_operator_init(c) for c in configs])
    net.requires_grad_(False)
    net.eval()
    operator = BatchedOperator(arch_name, configs, indices, (channels, height, width), net, info)
    return operator.to(device=device, dtype=dtype)


def build_single(
    arch_name: str,
    arch_config: Any,
    operator_index: int,
    root_seed: int,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    *,
    grid_shape: tuple[int, int, int],
) -> BatchedOperator:
    """One operator: :func:`build_batched` with a stack of one (input ``(M, C, H, W)``)."""
    return build_batched(
        arch_name, arch_config, [operator_index], root_seed, device, dtype, grid_shape=grid_shape
    )


@attrs.frozen
class Architecture:
    """What the registered architecture factory returns: a config bound to its builders.

    ``registry.get("cnn").build(CNNConfig(...))`` gives an :class:`Architecture` whose :meth:`build` builds
    operators and whose :attr:`signature` groups them.
    """

    config: Any

    @property
    def name(self) -> str:
        return architecture_name(self.config)

    @property
    def signature(self) -> tuple[Any, ...]:
        return architecture_signature(self.config)

    def build(
        self,
        operator_indices: Sequence[int],
        root_seed: int,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        *,
        grid_shape: tuple[int, int, int],
    ) -> BatchedOperator:
        return build_batched(
            self.name, self.config, operator_indices, root_seed, device, dtype, grid_shape=grid_shape
        )
