"""The grouped sequence models against one plain PyTorch model per group, and the groups' independence."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from spinlock.vqvae.sequence import (
    GroupedConvDecoder,
    GroupedConvEncoder,
    GroupedGRUDecoder,
    GroupedGRUEncoder,
    GroupedLinear,
)

GROUPS = [[0, 3], [1, 2, 4], [5]]
FEATURES = 6
HIDDEN = 5
LATENTS = [4, 3, 2]
LAYERS = 2


def _linear(grouped: GroupedLinear, g: int, rows: int, columns: int) -> nn.Linear:
    linear = nn.Linear(columns, rows)
    with torch.no_grad():
        linear.weight.copy_(grouped.weight[g, :rows, :columns])
        linear.bias.copy_(grouped.bias[g, :rows])
    return linear


def _gru(module: GroupedGRUEncoder | GroupedGRUDecoder, g: int, inputs: int) -> nn.GRU:
    """The ``nn.GRU`` of group ``g`` with the grouped model's weights."""
    gru = nn.GRU(inputs, HIDDEN, num_layers=LAYERS, batch_first=True)
    with torch.no_grad():
        gru.weight_ih_l0.copy_(module.input.weight[g, :, :inputs])
        gru.bias_ih_l0.copy_(module.input.bias[g])
        for layer in range(LAYERS):
            getattr(gru, f"weight_hh_l{layer}").copy_(module.gru.weight_hh[layer][g])
            getattr(gru, f"bias_hh_l{layer}").copy_(module.gru.bias_hh[layer][g])
            if layer:
                projection = module.gru.input_layers[layer - 1]
                getattr(gru, f"weight_ih_l{layer}").copy_(projection.weight[g])
                getattr(gru, f"bias_ih_l{layer}").copy_(projection.bias[g])
    return gru


def _time(batch: int, steps: int) -> torch.Tensor:
    return torch.linspace(0, 1, steps).view(1, steps, 1).expand(batch, steps, 1)


def test_grouped_gru_encoder_is_one_nn_gru_per_group() -> None:
    torch.manual_seed(0)
    encoder = GroupedGRUEncoder(GROUPS, FEATURES, HIDDEN, LATENTS, LAYERS)
    x = torch.randn(7, 9, FEATURES)
    latents = encoder(x)
    for g, (group, size) in enumerate(zip(GROUPS, LATENTS, strict=True)):
        _, state = _gru(encoder, g, len(group))(x[:, :, group])
        expected = _linear(encoder.head, g, size, HIDDEN)(state[-1])
        torch.testing.assert_close(latents[g], expected, rtol=1e-5, atol=1e-6)


def test_grouped_gru_decoder_is_one_nn_gru_per_group() -> None:
    torch.manual_seed(1)
    decoder = GroupedGRUDecoder(GROUPS, FEATURES, HIDDEN, LATENTS, LAYERS)
    latents = [torch.randn(7, size) for size in LATENTS]
    out = decoder(latents, 9)
    assert out.shape == (7, 9, FEATURES)
    for g, (group, z) in enumerate(zip(GROUPS, latents, strict=True)):
        size = z.shape[1]
        initial = torch.tanh(_linear(decoder.initial_state, g, HIDDEN * LAYERS, size)(z))
        initial = initial.view(7, LAYERS, HIDDEN).transpose(0, 1).contiguous()
        inputs = torch.cat([z.unsqueeze(1).expand(7, 9, size), _time(7, 9)], 2)
        outputs, _ = _gru(decoder, g, size + 1)(inputs, initial)
        expected = _linear(decoder.head, g, len(group), HIDDEN)(outputs)
        torch.testing.assert_close(out[:, :, group], expected, rtol=1e-5, atol=1e-6)


def _conv(grouped: nn.Conv1d, g: int, rows: int, columns: list[int]) -> nn.Conv1d:
    """Group ``g``'s part of a grouped convolution: its ``rows`` output channels, the given input channels."""
    out_per_group = grouped.out_channels // grouped.groups
    conv = nn.Conv1d(len(columns), rows, grouped.kernel_size[0], padding=grouped.padding[0])
    with torch.no_grad():
        weight = grouped.weight[g * out_per_group : g * out_per_group + rows]
        conv.weight.copy_(weight[:, columns])
        assert grouped.bias is not None and conv.bias is not None
        conv.bias.copy_(grouped.bias[g * out_per_group : g * out_per_group + rows])
    return conv


def test_grouped_conv_models_are_one_conv_stack_per_group() -> None:
    torch.manual_seed(2)
    encoder = GroupedConvEncoder(GROUPS, FEATURES, HIDDEN, LATENTS, LAYERS, 3, "gelu")
    decoder = GroupedConvDecoder(GROUPS, FEATURES, HIDDEN, LATENTS, LAYERS, 3, "gelu")
    x = torch.randn(7, 9, FEATURES)
    latents = encoder(x)
    out = decoder(latents, 9)
    enc_convs = [m for m in encoder.convs if isinstance(m, nn.Conv1d)]
    dec_convs = [m for m in decoder.convs if isinstance(m, nn.Conv1d)]
    tau = max(LATENTS)  # the time channel's position among each group's decoder inputs
    for g, (group, size) in enumerate(zip(GROUPS, LATENTS, strict=True)):
        h = x[:, :, group].transpose(1, 2)
        for index, conv in enumerate(enc_convs):
            columns = list(range(len(group))) if index == 0 else list(range(HIDDEN))
            h = nn.functional.gelu(_conv(conv, g, HIDDEN, columns)(h))
        expected = _linear(encoder.head, g, size, HIDDEN)(h.mean(2))
        torch.testing.assert_close(latents[g], expected, rtol=1e-5, atol=1e-6)

        z = latents[g]
        h = torch.cat([z.unsqueeze(1).expand(7, 9, size), _time(7, 9)], 2).transpose(1, 2)
        for index, conv in enumerate(dec_convs[:-1]):
            columns = [*range(size), tau] if index == 0 else list(range(HIDDEN))
            h = nn.functional.gelu(_conv(conv, g, HIDDEN, columns)(h))
        expected = _conv(dec_convs[-1], g, len(group), list(range(HIDDEN)))(h).transpose(1, 2)
        torch.testing.assert_close(out[:, :, group], expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["gru", "conv"])
def test_groups_do_not_see_each_other(kind: str) -> None:
    torch.manual_seed(3)
    if kind == "gru":
        encoder: nn.Module = GroupedGRUEncoder(GROUPS, FEATURES, HIDDEN, LATENTS, 1)
        decoder: nn.Module = GroupedGRUDecoder(GROUPS, FEATURES, HIDDEN, LATENTS, 1)
    else:
        encoder = GroupedConvEncoder(GROUPS, FEATURES, HIDDEN, LATENTS, 1, 3, "relu")
        decoder = GroupedConvDecoder(GROUPS, FEATURES, HIDDEN, LATENTS, 1, 3, "relu")
    x = torch.randn(4, 5, FEATURES, requires_grad=True)
    latents = encoder(x)
    (gradient,) = torch.autograd.grad(latents[1].sum(), x)
    outside = [c for c in range(FEATURES) if c not in GROUPS[1]]
    assert gradient[:, :, outside].abs().max() == 0
    assert gradient[:, :, GROUPS[1]].abs().max() > 0

    codes = [z.detach().requires_grad_() for z in latents]
    out = decoder(codes, 5)
    gradients = torch.autograd.grad(out[:, :, GROUPS[0]].sum(), codes)
    assert gradients[0].abs().max() > 0
    assert all(g.abs().max() == 0 for g in gradients[1:])


def test_padding_weights_get_no_gradient() -> None:
    torch.manual_seed(4)
    encoder = GroupedGRUEncoder(GROUPS, FEATURES, HIDDEN, LATENTS, 1)
    sum(z.sum() for z in encoder(torch.randn(3, 4, FEATURES))).backward()  # type: ignore[union-attr]
    grad = encoder.input.weight.grad
    assert grad is not None
    for g, group in enumerate(GROUPS):
        assert grad[g, :, len(group) :].abs().sum() == 0  # empty for the widest group
        assert grad[g, :, : len(group)].abs().max() > 0


@pytest.mark.parametrize("steps", [1, 2, 11])
def test_any_number_of_steps(steps: int) -> None:
    decoder = GroupedGRUDecoder(GROUPS, FEATURES, HIDDEN, LATENTS, 1)
    encoder = GroupedGRUEncoder(GROUPS, FEATURES, HIDDEN, LATENTS, 1)
    latents = encoder(torch.randn(2, steps, FEATURES))
    assert [tuple(z.shape) for z in latents] == [(2, size) for size in LATENTS]
    assert decoder(latents, steps).shape == (2, steps, FEATURES)
