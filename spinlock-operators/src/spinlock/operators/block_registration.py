"""Registration of the operator blocks and architectures (import-light: attrs configs only, no torch).

``plugin.py`` re-exports :func:`spinlock_register_operator_blocks`, so the hook runs when the
``spinlock-operators`` plugin loads. Block factories build a module for one operator from its config
(weights from ``manual_seed(0)``); architecture factories return an
:class:`~spinlock.operators.architectures.batched.Architecture` that builds seeded, batched operators.
"""

from __future__ import annotations

from typing import Any

from spinlock.core import hookimpl
from spinlock.operators.architectures.configs import CNNConfig, UAFNOConfig
from spinlock.operators.blocks.configs import (
    AFNOBlockConfig,
    AFNOFilterConfig,
    ConvBlockConfig,
    DownsampleConfig,
    ResidualBlockConfig,
    SpectralConvConfig,
    UpsampleConfig,
)

_BLOCKS = "spinlock.operators.blocks"
_LAYOUT = "(batch, operators*channels, height, width)"

BLOCKS: tuple[tuple[str, type, str, str], ...] = (
    ("conv", ConvBlockConfig, f"{_BLOCKS}.conv:ConvBlock.from_config", "Conv, per-sample norm, activation, seeded channel mask"),
    ("residual", ResidualBlockConfig, f"{_BLOCKS}.residual:ResidualBlock.from_config", "Conv blocks plus a skip connection"),
    ("downsample", DownsampleConfig, f"{_BLOCKS}.downsample:Downsample.from_config", "Stride-2 conv block halving the grid"),
    ("upsample", UpsampleConfig, f"{_BLOCKS}.upsample:Upsample.from_config", "Periodic bilinear x2 upsampling then a conv block"),
    ("spectral_conv", SpectralConvConfig, f"{_BLOCKS}.spectral:SpectralConv.from_config", "FNO spectral convolution on low modes of both row-frequency signs"),
    ("afno_filter", AFNOFilterConfig, f"{_BLOCKS}.afno:AFNOFilter.from_config", "AFNO block-diagonal complex MLP with soft-shrinkage (Guibas et al. 2022)"),
    ("afno_block", AFNOBlockConfig, f"{_BLOCKS}.afno:AFNOBlock.from_config", "Pre-norm AFNO filter and channel MLP with residuals"),
)  # fmt: skip

ARCHITECTURES: tuple[tuple[str, type, str], ...] = (
    ("cnn", CNNConfig, "Periodic CNN operator: lift, hidden conv blocks, 1x1 projection"),
    ("u_afno", UAFNOConfig, "U-Net encoder/decoder with an AFNO spectral bottleneck"),
)


@hookimpl
def spinlock_register_operator_blocks(registry: Any) -> None:
    """Register the blocks (``metadata.role = "block"``) and the ``cnn`` / ``u_afno`` architectures."""
    for name, config_cls, factory, summary in BLOCKS:
        registry.add(
            name,
            config_cls=config_cls,
            factory=factory,
            summary=summary,
            metadata={"role": "block", "layout": _LAYOUT},
        )
    for name, config_cls, summary in ARCHITECTURES:
        per_operator = list(config_cls.PER_OPERATOR_FIELDS)  # type: ignore[attr-defined]
        registry.add(
            name,
            config_cls=config_cls,
            factory="spinlock.operators.architectures.batched:Architecture",
            summary=summary,
            metadata={
                "role": "architecture",
                "layout": "(operators*realizations, channels, height, width)",
                "per_operator_fields": per_operator,
            },
        )
