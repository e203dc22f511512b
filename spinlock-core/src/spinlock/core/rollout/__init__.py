"""The operator-agnostic rollout engine: update policies, noise streams and the batched time loop.

Importing this package imports torch; ``spinlock.core`` itself never does. See ``docs/rollouts.md``.
"""

from spinlock.core.rollout.engine import (
    STATUS_DIVERGED,
    STATUS_OK,
    RolloutResult,
    RolloutSpec,
    StepFn,
    rollout,
)
from spinlock.core.rollout.noise import (
    NOISE_TYPES,
    SCHEDULES,
    NoiseStreams,
    correlation_filter,
    schedule_factor,
)
from spinlock.core.rollout.policies import POLICIES, UpdateCoefficients, apply_update, coefficients

__all__ = [
    "NOISE_TYPES",
    "POLICIES",
    "SCHEDULES",
    "STATUS_DIVERGED",
    "STATUS_OK",
    "NoiseStreams",
    "RolloutResult",
    "RolloutSpec",
    "StepFn",
    "UpdateCoefficients",
    "apply_update",
    "coefficients",
    "correlation_filter",
    "rollout",
    "schedule_factor",
]
