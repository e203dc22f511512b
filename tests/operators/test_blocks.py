"""Operator blocks: shapes, hand-computed spectral mixing, AFNO shrinkage and block structure, periodicity."""

from __future__ import annotations

import math

import pytest
import torch

from spinlock.core.registry import OperatorBlockRegistry
from spinlock.core.testing.contracts import check_component
from spinlock.operators.block_registration import spinlock_register_operator_blocks
from spinlock.operators.blocks import (
    AFNOBlock,
    AFNOFilter,
    ConvBlock,
    Downsample,
    ResidualBlock,
    SpectralConv,
    StackedNorm,
    Upsample,
    max_modes,
    upsample2x,
)
from spinlock.operators.blocks.configs import AFNOFilterConfig, ConvBlockConfig


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _blocks(c_in: int, c_out: int, ops: int) -> dict[str, tuple[torch.nn.Module, tuple[int, int]]]:
    """name → (block, expected (channels per operator, grid side factor x2 / x1 / x0.5))."""
    return {
        "conv": (ConvBlock(c_in, c_out, 3, num_operators=ops, dropout=True), (c_out, 2)),
        "conv_stride2": (ConvBlock(c_in, c_out, 3, num_operators=ops, stride=2), (c_out, 1)),
        "residual": (ResidualBlock(c_in, c_out, 5, num_operators=ops), (c_out, 2)),
        "downsample": (Downsample(c_in, c_out, num_operators=ops), (c_out, 1)),
        "upsample": (Upsample(c_in, c_out, num_operators=ops), (c_out, 4)),
        "spectral": (SpectralConv(c_in, c_out, 4, num_operators=ops), (c_out, 2)),
    }


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("ops", [1, 2])
def test_block_shapes(channels: int, ops: int) -> None:
    x = torch.randn(3, ops * channels, 16, 16)
    for name, (block, (c_out, factor)) in _blocks(channels, 4, ops).items():
        y = block(x)
        side = 16 * factor // 2
        assert y.shape == (3, ops * c_out, side, side), name
        assert torch.isfinite(y).all(), name
    afno = AFNOBlock(4 * channels, 2, 4, num_operators=ops)
    x4 = torch.randn(2, ops * 4 * channels, 16, 16)
    assert afno(x4).shape == x4.shape


@pytest.mark.parametrize(("ky", "kx"), [(3, 2), (-3, 2), (0, 1), (-1, 3)])
def test_spectral_conv_single_mode_matches_hand_computation(ky: int, kx: int) -> None:
    n, modes = 16, 4
    a, b = 0.7, -1.3
    block = SpectralConv(1, 1, modes)
    with torch.no_grad():
        block.weight[..., 0] = a
        block.weight[..., 1] = b
    yy, xx = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    theta = 2 * math.pi * (ky * yy + kx * xx) / n
    x = torch.cos(theta).float()[None, None]
    # (a + ib) e^{iθ}, real part: the multiplier acts on the single mode, its conjugate follows
    expected = a * torch.cos(theta) - b * torch.sin(theta)
    torch.testing.assert_close(block(x)[0, 0], expected.float(), atol=1e-5, rtol=0)


def test_spectral_conv_drops_modes_outside_both_corners() -> None:
    n = 16
    block = SpectralConv(1, 1, 3)
    yy, xx = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    for ky, kx in [(3, 1), (-3, 1), (1, 3)]:
        x = torch.cos(2 * math.pi * (ky * yy + kx * xx) / n).float()[None, None]
        assert block(x).abs().max() < 1e-5


def test_spectral_conv_refuses_saturating_modes() -> None:
    assert max_modes(8, 8) == 4
    block = SpectralConv(1, 1, 5)
    with pytest.raises(ValueError, match=r"'modes' must be <= 4 for a 8×8 grid: 5"):
        block(torch.randn(1, 1, 8, 8))


def test_afno_soft_shrinkage_zeroes_small_modes() -> None:
    x = torch.randn(2, 8, 16, 16)
    filt = AFNOFilter(8, 2, 4)
    with torch.no_grad():
        filt.sparsity.fill_(1e6)
    assert torch.equal(filt(x), torch.zeros_like(x))
    with torch.no_grad():
        filt.sparsity.fill_(0.0)
    dense = filt(x)
    assert dense.abs().max() > 1e-2
    # a moderate λ zeroes some kept modes and keeps others
    with torch.no_grad():
        filt.sparsity.fill_(0.5)
    spectrum = torch.fft.rfft2(filt(x), norm="ortho")
    kept = spectrum[..., :4, :4]
    zero = kept.abs() < 1e-6
    assert zero.any() and not zero.all()


def test_afno_mlp_is_block_diagonal() -> None:
    filt = AFNOFilter(8, 2, 4)
    x = torch.randn(2, 8, 16, 16)
    x2 = x.clone()
    x2[:, :4] += torch.randn(2, 4, 16, 16)  # perturb channel block 0 only
    y, y2 = filt(x), filt(x2)
    torch.testing.assert_close(y2[:, 4:], y[:, 4:], atol=1e-6, rtol=0)
    assert (y2[:, :4] - y[:, :4]).abs().max() > 1e-3


def test_afno_fft_runs_in_float32_under_autocast() -> None:
    filt = AFNOFilter(8, 2, 4)
    x = torch.randn(2, 8, 16, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = filt(x)
    assert y.dtype == torch.float32
    torch.testing.assert_close(y, filt(x))


def test_conv_blocks_are_periodic() -> None:
    block = ResidualBlock(2, 3, 3)
    x = torch.randn(2, 2, 16, 16)
    shifted = block(torch.roll(x, (5, -3), dims=(-2, -1)))
    torch.testing.assert_close(shifted, torch.roll(block(x), (5, -3), dims=(-2, -1)), atol=1e-5, rtol=1e-5)
    up = upsample2x(torch.roll(x, 1, dims=-1))
    torch.testing.assert_close(up, torch.roll(upsample2x(x), 2, dims=-1))


def test_zero_padding_is_not_periodic() -> None:
    block = ConvBlock(1, 2, 3, padding="zeros")
    x = torch.randn(1, 1, 16, 16)
    assert not torch.allclose(block(torch.roll(x, 4, dims=-1)), torch.roll(block(x), 4, dims=-1), atol=1e-4)


def test_channel_dropout_mask_is_fixed_seeded_and_nested() -> None:
    block = ConvBlock(1, 32, 3, dropout=True)
    masks = {}
    for rate in (0.0, 0.25, 0.5):
        block.reset_parameters([_gen(7)], [{"dropout_rate": rate}])
        masks[rate] = block.keep[0].clone()
    assert torch.equal(masks[0.0], torch.ones(32))
    assert set(masks[0.5].unique().tolist()) == {0.0, 2.0}
    assert ((masks[0.5] > 0) <= (masks[0.25] > 0)).all()  # higher rate drops a superset
    x = torch.randn(2, 1, 8, 8)
    y = block(x)
    assert torch.equal(y[:, masks[0.5] == 0], torch.zeros_like(y[:, masks[0.5] == 0]))
    # weights do not depend on the rate
    block.reset_parameters([_gen(7)], [{"dropout_rate": 0.0}])
    w0 = block.conv.weight.clone()
    block.reset_parameters([_gen(7)], [{"dropout_rate": 0.5}])
    assert torch.equal(w0, block.conv.weight)


@pytest.mark.parametrize("kind", ["instance", "group", "layer", "none"])
def test_norms_are_per_sample_and_per_operator(kind: str) -> None:
    norm = StackedNorm(kind, 4, num_operators=2)
    x = torch.randn(3, 8, 8, 8)
    x2 = x.clone()
    x2[1] = x2[1] * 10 + 5  # another sample
    x2[0, 4:] = torch.randn(4, 8, 8)  # operator 1 of sample 0
    y, y2 = norm(x), norm(x2)
    torch.testing.assert_close(y2[2], y[2])
    torch.testing.assert_close(y2[0, :4], y[0, :4])


def test_registered_blocks_pass_contracts_and_build() -> None:
    registry = OperatorBlockRegistry()
    spinlock_register_operator_blocks(registry)
    assert {
        "conv",
        "residual",
        "downsample",
        "upsample",
        "spectral_conv",
        "afno_filter",
        "afno_block",
    } <= set(registry.names())
    for spec in registry:
        check_component(spec)
        if spec.metadata["role"] == "block":
            module = spec.build()
            assert isinstance(module, torch.nn.Module)
    conv = registry.get("conv").build(ConvBlockConfig(in_channels=1, out_channels=2, dropout_rate=0.5))
    assert conv(torch.randn(1, 1, 8, 8)).shape == (1, 2, 8, 8)
    with pytest.raises(ValueError, match=r"'num_blocks' must divide 'channels' \(6\): 4"):
        AFNOFilterConfig(channels=6, num_blocks=4)
    with pytest.raises(ValueError, match=r"'modes' must be >= 1: 0"):
        AFNOFilterConfig(modes=0)
