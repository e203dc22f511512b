"""Inline feature extraction during generation, through the registered feature families.

spinlock-operators never imports spinlock-features: families are found in the registry by the names in the
config's ``features`` section and used through core's :class:`~spinlock.core.features.FeatureFamily`
protocol, so any installed family (first- or third-party) can run inline.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import numpy as np
import torch

from spinlock.core.config import RunConfig
from spinlock.core.features import FeatureColumns, FeatureFamily, FeatureInputs
from spinlock.core.plugins import PluginManager
from spinlock.core.registry import ComponentKind
from spinlock.core.sampling.draw import ParameterDraw
from spinlock.core.storage import DatasetWriter


@attrs.frozen
class InlineFamily:
    """A family to run on every batch, with the provider recorded in the dataset."""

    name: str
    family: FeatureFamily
    provider: str


def inline_families(config: RunConfig, manager: PluginManager) -> list[InlineFamily]:
    """The families of the config's ``features`` section, built from their params."""
    out = []
    for ref in config.features:
        spec = manager.get(ComponentKind.FEATURE_FAMILY, ref.kind)
        out.append(InlineFamily(ref.kind, spec.build(ref.params), f"{spec.distribution} {spec.version}"))
    return out


def needs_trajectory(families: Sequence[InlineFamily]) -> bool:
    return any("trajectory" in f.family.inputs for f in families)


def batch_inputs(
    draw: ParameterDraw,
    indices: Sequence[int],
    *,
    initial_condition: torch.Tensor,
    trajectory: torch.Tensor | None,
    status: Sequence[str] | None,
    stride: int,
) -> FeatureInputs:
    """The inputs every family sees for operators ``indices`` of the run."""
    rows = np.asarray(indices) - draw.start
    return FeatureInputs(
        initial_condition=initial_condition,
        trajectory=trajectory,
        parameters={name: values[rows] for name, values in draw.values.items()},
        parameter_space=draw.space,
        status=status,
        time_stride=stride,
    )


def shape_probe(config: RunConfig, draw: ParameterDraw) -> FeatureInputs:
    """A one-sample batch with the run's shapes, to ask families for their columns before any work."""
    grid, rollout = config.grid, config.rollout
    stored = len(range(0, rollout.steps, config.storage.trajectory_stride))
    return batch_inputs(
        draw,
        [draw.start],
        initial_condition=torch.zeros(1, grid.channels, grid.height, grid.width),
        trajectory=torch.zeros(1, rollout.realizations, stored, grid.channels, grid.height, grid.width),
        status=["ok"],
        stride=config.storage.trajectory_stride,
    )


def declare(writer: DatasetWriter, families: Sequence[InlineFamily], probe: FeatureInputs) -> None:
    """Allocate ``/features/<family>`` for each family (a no-op on resume when nothing changed)."""
    for item in families:
        columns: FeatureColumns = item.family.columns(probe)
        time = probe.trajectory.shape[2] if columns.per_timestep and probe.trajectory is not None else None
        writer.declare_features(
            item.name,
            list(columns.names),
            item.family.version,
            item.provider,
            per_timestep_T=time,
            categories=list(columns.categories),
        )


def compute(families: Sequence[InlineFamily], inputs: FeatureInputs) -> dict[str, np.ndarray]:
    """family → float32 values of the batch: ``(B, D)`` or ``(B, T, D)``."""
    with torch.inference_mode():
        return {f.name: f.family.compute(inputs).float().cpu().numpy() for f in families}
