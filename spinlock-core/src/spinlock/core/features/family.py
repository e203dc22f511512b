"""What a feature family is: declared inputs, named and categorised columns, a version, and a compute step.

A registered ``feature_family`` component's factory takes its attrs config and returns an object satisfying
:class:`FeatureFamily`. Families never see more than one batch at a time and must compute each sample's
values from that sample alone (no batch statistics), so a value never depends on its batch.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs

if TYPE_CHECKING:
    import numpy as np
    import torch

#: What a family may ask for: the initial condition, the sampled parameters, the rollout.
FEATURE_INPUTS: frozenset[str] = frozenset({"initial_condition", "parameters", "trajectory"})


def _strings(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(str(v) for v in values)


@attrs.frozen
class FeatureColumns:
    """Names of a family's columns and the category of each (same length, same order)."""

    names: tuple[str, ...] = attrs.field(converter=_strings)
    categories: tuple[str, ...] = attrs.field(converter=_strings)
    per_timestep: bool = False

    def __attrs_post_init__(self) -> None:
        if len(self.names) != len(self.categories):
            raise ValueError(f"{len(self.names)} column names but {len(self.categories)} categories")
        if len(set(self.names)) != len(self.names):
            duplicates = sorted({n for n in self.names if self.names.count(n) > 1})
            raise ValueError(f"duplicate column names: {duplicates}")

    def __len__(self) -> int:
        return len(self.names)


@attrs.frozen
class FeatureInputs:
    """One batch of B samples, as a family receives it.

    :param initial_condition: ``(batch, channels, height, width)`` tensor.
    :param trajectory: ``(batch, realizations, time, channels, height, width)`` tensor, or ``None``.
    :param parameters: typed θ per name, each ``(batch,)`` numpy array (ints, floats, bools or strings).
    :param parameter_space: the JSON description of the parameter space (``ParameterSpace.describe()``),
        so a family can one-hot choices and log-scale log parameters.
    :param status: per-sample rollout status (``ok`` / ``diverged``), or ``None``.
    :param time_stride: states between stored time points of ``trajectory``.
    :param scratch: per-batch memo where families share intermediate results (e.g. per-frame statistics
        that TEMPORAL and SUMMARY both need), keyed by everything that determines the value. It lives as
        long as this batch, never spans batches, and is not part of equality.
    """

    initial_condition: torch.Tensor | None = None
    trajectory: torch.Tensor | None = None
    parameters: Mapping[str, np.ndarray] = attrs.field(factory=dict)
    parameter_space: Sequence[Mapping[str, Any]] = ()
    status: Sequence[str] | None = None
    time_stride: int = 1
    scratch: dict[Hashable, Any] = attrs.field(factory=dict, eq=False, repr=False)


@runtime_checkable
class FeatureFamily(Protocol):
    """A feature family.

    ``name`` and ``version`` are stored with the values; ``inputs`` ⊆ :data:`FEATURE_INPUTS`.
    ``columns(inputs)`` may depend on the batch's shapes (e.g. channels C, time T) but never on its values.
    ``compute(inputs)`` returns float32 ``(batch, D)`` — or ``(batch, T, D)`` when ``columns().per_timestep``
    — with D = ``len(columns(inputs))``, finite wherever defined.
    """

    name: str
    version: str
    inputs: frozenset[str]

    def columns(self, inputs: FeatureInputs) -> FeatureColumns: ...

    def compute(self, inputs: FeatureInputs) -> torch.Tensor: ...
