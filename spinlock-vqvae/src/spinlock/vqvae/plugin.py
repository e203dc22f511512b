"""Entry point of spinlock-vqvae in the `spinlock` plugin group.

Components are registered here with lazy `"module:attr"` factories so that loading the plugin imports no torch.
"""

from __future__ import annotations

from typing import Any

from spinlock.core.hookspecs import hookimpl
from spinlock.core.registry import EncoderRegistry
from spinlock.vqvae.config import TokenizerConfig


@hookimpl
def spinlock_register_encoders(registry: EncoderRegistry) -> None:
    registry.add(
        "vqvae",
        config_cls=TokenizerConfig,
        factory="spinlock.vqvae.training:VQVAEEncoder",
        summary="hierarchical VQ-VAE tokenizer: cleaning, category discovery, 3-level residual codebooks",
        metadata={"inputs": ["initial", "summary", "temporal"], "levels": ["coarse", "medium", "fine"]},
    )


@hookimpl
def spinlock_register_commands(app: Any) -> None:
    """``spinlock train-vqvae``, ``spinlock tokenize``, ``spinlock visualize vqvae`` and ``spinlock report``."""
    from spinlock.vqvae.cli import register
    from spinlock.vqvae.report_html import register_report
    from spinlock.vqvae.viz import register_visualize

    register(app)
    register_visualize(app)
    register_report(app)
