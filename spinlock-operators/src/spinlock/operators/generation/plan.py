"""The generation plan: per-operator settings from θ, and the fixed batches operators run in.

Batches are a pure function of (config, θ, batch size): operators are grouped by what must be shared in one
computation — architecture signature and noise settings — and each group is cut into consecutive chunks of
``batch_size`` in global-index order. A resumed run re-runs whole batches that still hold a pending operator,
so every operator is computed in exactly the batch it would have been in without the interruption; that is
what makes resumed and uninterrupted datasets bit-identical, and it is how a single operator is replayed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np

from spinlock.core.config.run import NoiseConfig, RunConfig
from spinlock.core.sampling.draw import ParameterDraw
from spinlock.operators.architectures.parameters import (
    ROLLOUT_PARAMETER_NAMES,
    ParameterMappingError,
    apply_parameters,
)

#: θ name → field of the rollout settings it overrides per operator
ROLLOUT_OVERRIDES: dict[str, str] = {
    "update_policy": "policy",
    "dt": "dt",
    "alpha": "alpha",
    "noise_scale": "noise_scale",
}
#: θ name → field of :class:`NoiseConfig` it overrides per operator (operators are grouped by noise config)
NOISE_OVERRIDES: dict[str, str] = {
    "noise_type": "type",
    "noise_schedule": "schedule",
    "schedule_period": "period",
    "spatial_correlation": "correlation_length",
}


class PlanError(ValueError):
    """The config cannot be turned into operators (e.g. a sampled name nothing consumes)."""


@attrs.frozen
class OperatorSettings:
    """Everything that differs between operators, for one operator."""

    index: int
    arch_config: Any
    signature: tuple[Any, ...]
    policy: str
    dt: float
    alpha: float
    noise_scale: float
    noise: NoiseConfig

    @property
    def group_key(self) -> tuple[Any, ...]:
        return (self.signature, self.noise)


@attrs.frozen
class Batch:
    """Operators computed together: same architecture signature and noise settings."""

    number: int
    operators: tuple[OperatorSettings, ...]

    @property
    def indices(self) -> list[int]:
        return [op.index for op in self.operators]


def _python_scalar(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def operator_settings(
    config: RunConfig, arch_config: Any, signature_of: Any, draw: ParameterDraw
) -> list[OperatorSettings]:
    """Per-operator settings for the rows of ``draw`` (θ overrides the config's fixed values)."""
    rollout = config.rollout
    settings = []
    for row in range(len(draw.unit)):
        theta = {name: _python_scalar(values[row]) for name, values in draw.values.items()}
        try:
            arch = apply_parameters(arch_config, theta, extra_known=ROLLOUT_PARAMETER_NAMES)
        except ParameterMappingError:
            raise
        except (ValueError, TypeError) as exc:
            raise PlanError(f"operator {draw.start + row}: {exc}") from exc
        noise = attrs.evolve(
            rollout.noise,
            **{field: theta[name] for name, field in NOISE_OVERRIDES.items() if name in theta},
        )
        overrides = {field: theta[name] for name, field in ROLLOUT_OVERRIDES.items() if name in theta}
        settings.append(
            OperatorSettings(
                index=draw.start + row,
                arch_config=arch,
                signature=signature_of(arch),
                policy=str(overrides.get("policy", rollout.policy)),
                dt=float(overrides.get("dt", rollout.dt)),
                alpha=float(overrides.get("alpha", rollout.alpha)),
                noise_scale=float(overrides.get("noise_scale", rollout.noise.scale)),
                noise=noise,
            )
        )
    return settings


def make_batches(settings: Sequence[OperatorSettings], batch_size: int) -> list[Batch]:
    """Group by (signature, noise) in order of first appearance, then chunk each group in index order."""
    if batch_size < 1:
        raise PlanError(f"batch size must be >= 1: {batch_size}")
    groups: dict[tuple[Any, ...], list[OperatorSettings]] = {}
    for op in sorted(settings, key=lambda s: s.index):
        groups.setdefault(op.group_key, []).append(op)
    batches: list[Batch] = []
    for members in groups.values():
        for start in range(0, len(members), batch_size):
            batches.append(Batch(len(batches), tuple(members[start : start + batch_size])))
    return batches


def batches_to_run(batches: Sequence[Batch], done: Mapping[int, bool] | np.ndarray) -> list[Batch]:
    """Batches holding at least one operator that is not done yet."""
    return [b for b in batches if not all(bool(done[i]) for i in b.indices)]


@attrs.frozen
class Shard:
    """Shard ``index`` of ``count`` (0-based): one contiguous slice of a run's batch list.

    Batches are grouped by architecture, so a shard's operators are not a contiguous index range; slicing the
    batch list keeps every operator in exactly the batch it has in an unsharded run (bit-identical data).
    """

    index: int
    count: int

    def __attrs_post_init__(self) -> None:
        if self.count < 1:
            raise PlanError(f"shard count must be >= 1: {self.index}/{self.count}")
        if not 0 <= self.index < self.count:
            raise PlanError(
                f"shard {self.index}/{self.count} does not exist: the index must be 0..{self.count - 1} "
                "(shards are numbered from 0)"
            )

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``"2/8"`` → shard 2 of 8; :class:`PlanError` for anything else."""
        index, sep, count = text.strip().partition("/")
        if not sep or not index.strip().isdigit() or not count.strip().isdigit():
            raise PlanError(f"a shard is written I/N (e.g. 0/4 for the first of four), got {text!r}")
        return cls(int(index), int(count))


def shard_batches(batches: Sequence[Batch], shard: Shard) -> list[Batch]:
    """The batches of ``shard``: a contiguous slice of ``batches``, cut so that shards hold about the same
    number of operators (a batch goes to the shard its first operator's position falls in)."""
    total = sum(len(b.operators) for b in batches)
    chosen, before = [], 0
    for batch in batches:
        if before * shard.count // max(total, 1) == shard.index:
            chosen.append(batch)
        before += len(batch.operators)
    return chosen
