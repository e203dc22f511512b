"""TEMPORAL feature family: per-timestep features ``(N, T, D)`` of trajectories.

The package import is torch-free; :class:`~spinlock.features.temporal.family.TemporalFamily` and the
primitives in :mod:`spinlock.features.temporal.stats` import torch.
"""

from __future__ import annotations

from spinlock.features.temporal.config import TemporalConfig
from spinlock.features.temporal.registration import TEMPORAL_VERSION, register_temporal

__all__ = ["TEMPORAL_VERSION", "TemporalConfig", "register_temporal"]
