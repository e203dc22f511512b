"""The ``cnn`` architecture: a periodic convolutional operator, stackable over operators."""

from __future__ import annotations

import torch
from torch import nn

from spinlock.operators.architectures.configs import CNNConfig
from spinlock.operators.blocks.base import StackedModule
from spinlock.operators.blocks.conv import ConvBlock, StackedConv2d
from spinlock.operators.blocks.residual import ResidualBlock


class StackedCNN(StackedModule):
    """``O`` CNN operators sharing one architecture signature, run as one computation.

    Lift ``ConvBlock(C → B, k)``; ``num_layers`` hidden blocks ``ConvBlock(B → B, k)`` (wrapped as
    ``x + block(x)`` when ``residual``); projection ``1×1 conv (B → C)`` with bias and no activation. Every
    conv block carries the operator's fixed channel-dropout mask.

    :param channels: the grid's channels ``C`` (any ``C >= 1``), in and out.
    :param config: the shared architecture (its per-operator fields are applied at initialisation).
    :param num_operators: ``O``.

    Input and output ``(batch, O * C, H, W)``: channels ``o*C … o*C+C-1`` are operator ``o``.
    """

    def __init__(self, channels: int, config: CNNConfig, *, num_operators: int = 1) -> None:
        super().__init__()
        self.num_operators = num_operators
        self.channels = channels
        width, k = config.base_channels, config.kernel_size
        common = {
            "num_operators": num_operators,
            "normalization": config.normalization,
            "activation": config.activation,
            "padding": config.padding,
            "dropout": True,
        }
        self.lift = ConvBlock(channels, width, k, **common)  # type: ignore[arg-type]
        body: list[nn.Module] = []
        for _ in range(config.num_layers):
            if config.residual:
                body.append(ResidualBlock(width, width, k, num_convs=1, **common))  # type: ignore[arg-type]
            else:
                body.append(ConvBlock(width, width, k, **common))  # type: ignore[arg-type]
        self.body = nn.Sequential(*body)
        self.project = StackedConv2d(width, channels, 1, num_operators=num_operators, padding=config.padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(self.body(self.lift(x)))
