"""FNO-style spectral convolution of stacked operators, keeping both row-frequency signs.

The reference kept only the corner ``[:m, :m]`` of ``rfft2``: positive row frequencies only, so its filters
were blind to half of the low modes (waves tilted one way were mixed, the mirror-image tilt was dropped).
Here the kept set is symmetric: row frequencies ``ky ∈ {-(m-1), …, m-1}`` (``2m - 1`` rows: the top and
bottom corners of the ``rfft2`` array) and column frequencies ``kx ∈ {0, …, m-1}``. ``m`` can be at most
:func:`max_modes` of the grid it runs on; a larger ``m`` is an error, never a silent saturation.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from spinlock.operators.blocks.base import StackedModule, fan_in_normal


def max_modes(height: int, width: int) -> int:
    """Largest ``modes`` a ``height × width`` grid supports: ``min((H + 1) // 2, W // 2 + 1)``.

    ``2m - 1`` distinct row frequencies need ``2m - 1 <= H``; ``m`` column frequencies of ``rfft2`` need
    ``m <= W // 2 + 1``.
    """
    return min((height + 1) // 2, width // 2 + 1)


def check_modes(modes: int, height: int, width: int, *, name: str = "modes") -> None:
    """Raise ``'modes' must be <= M for a H×W grid: m`` when ``modes`` would saturate."""
    limit = max_modes(height, width)
    if modes > limit:
        raise ValueError(f"'{name}' must be <= {limit} for a {height}×{width} grid: {modes!r}")


def kept_rows(height: int, modes: int, device: torch.device | None = None) -> torch.Tensor:
    """Row indices of ``rfft2`` holding ``ky = 0 … m-1`` then ``ky = -(m-1) … -1`` (``2m - 1`` rows)."""
    return torch.cat(
        [torch.arange(0, modes, device=device), torch.arange(height - modes + 1, height, device=device)]
    )


class SpectralConv(StackedModule):
    """``irfft2(W · rfft2(x))`` on the kept low modes, per operator.

    :param in_channels: input channels per operator.
    :param out_channels: output channels per operator.
    :param modes: ``m``: row frequencies ``|ky| < m`` and column frequencies ``0 <= kx < m`` are kept.
    :param num_operators: ``O``.

    Weight: complex ``(O, in_channels, out_channels, 2m-1, m)`` stored as real ``(..., 2)``, each entry
    ``N(0, weight_scale² / in_channels)``. The transforms use ``norm="ortho"`` and always run in float32 (also
    under autocast); the result is cast back to the input dtype. Modes not kept are zero in the output.
    Input ``(batch, O * in_channels, H, W)``; output ``(batch, O * out_channels, H, W)``.
    """

    def __init__(self, in_channels: int, out_channels: int, modes: int, *, num_operators: int = 1) -> None:
        super().__init__()
        if modes < 1:
            raise ValueError(f"'modes' must be >= 1: {modes!r}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.modes = modes
        self.num_operators = num_operators
        shape = (num_operators, in_channels, out_channels, 2 * modes - 1, modes, 2)
        self.weight = torch.nn.Parameter(torch.empty(shape))
        self.reset_parameters()

    def init_operator(self, index: int, generator: torch.Generator, init: Mapping[str, float]) -> None:
        # each of the real and imaginary parts carries half the variance
        self.weight.data[index] = fan_in_normal(
            self.weight.shape[1:], 2 * self.in_channels, generator, init["weight_scale"]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, _, height, width = x.shape
        check_modes(self.modes, height, width)
        m, ops = self.modes, self.num_operators
        with torch.autocast(device_type=x.device.type, enabled=False):
            spectrum = torch.fft.rfft2(x.float(), norm="ortho")
            spectrum = spectrum.reshape(batch, ops, self.in_channels, height, width // 2 + 1)
            rows = kept_rows(height, m, x.device)
            low = spectrum[..., rows, :m]
            weight = torch.view_as_complex(self.weight.float())
            mixed = torch.einsum("boixy,oijxy->bojxy", low, weight)
            out = spectrum.new_zeros(batch, ops, self.out_channels, height, width // 2 + 1)
            out[..., rows, :m] = mixed
            y = torch.fft.irfft2(
                out.reshape(batch, -1, height, width // 2 + 1), s=(height, width), norm="ortho"
            )
        return y.to(x.dtype)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, modes={self.modes}, num_operators={self.num_operators}"
        )
