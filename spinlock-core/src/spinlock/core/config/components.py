"""References to registered components inside a config: ``{kind: NAME, params: {...}}``.

The ``kind`` selects a registered spec; the spec's attrs config class structures ``params``. Each reference
class is tied to one component kind, so ``operator: {kind: ...}`` is looked up among operator blocks and
``sampling: {kind: ...}`` among samplers.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs

from spinlock.core.config.validators import non_negative
from spinlock.core.registry import ComponentKind


@attrs.frozen
class ComponentRef:
    """A configured component: its registered name and its params (an instance of the spec's config class)."""

    component_kind: ClassVar[ComponentKind]

    kind: str
    params: Any = None


@attrs.frozen
class SamplerRef(ComponentRef):
    """``sampling:`` — which sampler draws the unit-cube points."""

    component_kind = ComponentKind.SAMPLER


@attrs.frozen
class OperatorRef(ComponentRef):
    """``operator:`` — the operator architecture (an operator block with the ``architecture`` role)."""

    component_kind = ComponentKind.OPERATOR_BLOCK


@attrs.frozen
class InitialConditionRef(ComponentRef):
    """One entry of the initial-condition mixture; ``weight`` is its relative share."""

    component_kind = ComponentKind.INITIAL_CONDITION

    weight: float = attrs.field(default=1.0, validator=non_negative)


@attrs.frozen
class FeatureFamilyRef(ComponentRef):
    """One feature family to extract."""

    component_kind = ComponentKind.FEATURE_FAMILY


@attrs.frozen
class EncoderRef(ComponentRef):
    """An encoder or tokenizer (the VQ-VAE, the NOA)."""

    component_kind = ComponentKind.ENCODER


@attrs.frozen
class ExecutorRef(ComponentRef):
    """``executor:`` — what runs the generation shards."""

    component_kind = ComponentKind.EXECUTOR
