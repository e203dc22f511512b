"""Entry point of spinlock-noa in the `spinlock` plugin group.

Components are registered here with lazy `"module:attr"` factories so that loading the plugin imports no torch.
"""

from __future__ import annotations

from typing import Any

from spinlock.core.hookspecs import hookimpl
from spinlock.core.registry import EncoderRegistry
from spinlock.noa.config import NOAConfig


@hookimpl
def spinlock_register_encoders(registry: EncoderRegistry) -> None:
    registry.add(
        "noa",
        config_cls=NOAConfig,
        factory="spinlock.noa.training:NOAEncoder",
        summary="Neural Operator Agent: θ-conditioned U-AFNO rollouts aligned with a frozen VQ-VAE tokenizer",
        metadata={"inputs": ["parameters", "initial_condition"], "needs": ["vqvae"]},
    )


@hookimpl
def spinlock_register_commands(app: Any) -> None:
    """``spinlock train-noa`` and ``spinlock noa predict``."""
    from spinlock.noa.cli import register

    register(app)
