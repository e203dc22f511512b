"""Quantiles of the last axis: numpy's values without autograd, torch.sort's with it, both numpy-exact."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spinlock.features.quantiles import quantiles, sorted_last_axis

LEVELS = (0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_quantiles_match_numpy_with_and_without_gradients(dtype: torch.dtype) -> None:
    x = torch.from_numpy(np.random.default_rng(0).normal(size=(3, 4, 101))).to(dtype)
    expected = np.quantile(x.numpy(), LEVELS, axis=-1)
    fast = quantiles(x, LEVELS)  # numpy sort (no autograd)
    tracked = quantiles(x.clone().requires_grad_(True), LEVELS)  # torch.sort
    assert tracked.requires_grad and not fast.requires_grad
    torch.testing.assert_close(fast, tracked.detach(), rtol=0, atol=0)
    np.testing.assert_allclose(fast.numpy(), expected, rtol=1e-6 if dtype == torch.float32 else 1e-12)


def test_sort_agrees_with_torch_on_ties_and_nan() -> None:
    x = torch.tensor([[3.0, float("nan"), 1.0, 1.0, -2.0], [0.0, 0.0, 0.0, 5.0, -1.0]])
    torch.testing.assert_close(sorted_last_axis(x), torch.sort(x, dim=-1).values, equal_nan=True)


def test_quantile_gradients() -> None:
    x = torch.randn(2, 9, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: quantiles(t, (0.1, 0.5, 0.9)), (x,))
