"""Update policies: coefficients, the fused update, and whole rollouts against hand computations."""

from __future__ import annotations

import pytest
import torch

from spinlock.core.rollout import RolloutSpec, apply_update, coefficients, rollout


def affine(x: torch.Tensor) -> torch.Tensor:
    return 2.0 * x + 1.0


def test_coefficients_per_policy() -> None:
    c = coefficients(["autoregressive", "residual", "convex"], [9.0, 0.25, 9.0], [9.0, 9.0, 0.75])
    assert c.a.tolist() == [0.0, 1.0, 0.75]
    assert c.b.tolist() == [1.0, 0.25, 0.25]
    assert c.kind == "general"
    assert coefficients(["autoregressive"] * 2, [1.0] * 2, [0.5] * 2).kind == "copy"
    assert coefficients(["convex", "autoregressive"], [1.0] * 2, [0.5] * 2).kind == "lerp"
    assert coefficients(["residual", "residual"], [0.1, 0.2], [0.5] * 2).kind == "residual"


def test_convex_alpha_zero_is_kept() -> None:
    # the reference turned alpha=0 into 0.5 (`alpha or 0.5`)
    c = coefficients(["convex"], [0.1], [0.0])
    assert c.a.tolist() == [0.0] and c.b.tolist() == [1.0]


@pytest.mark.parametrize(
    ("policies", "dt", "alpha"),
    [
        (["autoregressive"] * 3, [0.1] * 3, [0.5] * 3),
        (["residual"] * 3, [0.5, 0.25, 0.125], [0.5] * 3),
        (["convex"] * 3, [0.1] * 3, [0.0, 0.25, 1.0]),
        (["autoregressive", "residual", "convex"], [0.1, 0.5, 0.1], [0.5, 0.5, 0.25]),
    ],
)
def test_apply_update_matches_hand_computation(
    policies: list[str], dt: list[float], alpha: list[float]
) -> None:
    x = torch.tensor([1.0, -2.0, 3.5]).view(3, 1, 1, 1).expand(3, 2, 2, 2).contiguous()
    f = affine(x)
    expected = torch.empty_like(x)
    for i, policy in enumerate(policies):
        if policy == "autoregressive":
            expected[i] = f[i]
        elif policy == "residual":
            expected[i] = x[i] + dt[i] * f[i]
        else:
            expected[i] = alpha[i] * x[i] + (1 - alpha[i]) * f[i]
    out = torch.empty_like(x)
    result = apply_update(x, f, coefficients(policies, dt, alpha), out=out)
    assert result is out
    torch.testing.assert_close(out, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        # x0 = 1, f(x) = 2x + 1
        ("autoregressive", [1.0, 3.0, 7.0, 15.0, 31.0]),  # x ← 2x + 1
        ("residual", [1.0, 2.5, 5.5, 11.5, 23.5]),  # dt = 0.5: x ← x + 0.5(2x + 1) = 2x + 0.5
        (
            "convex",
            [1.0, 2.5, 5.125, 9.71875, 17.7578125],
        ),  # α = 0.25: x ← 0.25x + 0.75(2x + 1) = 1.75x + 0.75
    ],
)
def test_rollout_sequences(policy: str, expected: list[float]) -> None:
    spec = RolloutSpec(steps=5, realizations=2, policy=[policy], dt=[0.5], alpha=[0.25], noise_scale=[0.0])
    result = rollout(
        affine, torch.ones(1, 1, 3, 3), spec, operator_indices=[0], root_seed=0, store_trajectory=True
    )
    assert result.trajectories is not None
    got = result.trajectories[0, :, :, 0, 1, 1]
    torch.testing.assert_close(got, torch.tensor([expected, expected]), rtol=1e-6, atol=0.0)


def test_mixed_policies_in_one_batch() -> None:
    spec = RolloutSpec(
        steps=5,
        realizations=1,
        policy=["autoregressive", "residual", "convex"],
        dt=[0.1, 0.5, 0.1],
        alpha=[0.5, 0.5, 0.25],
        noise_scale=[0.0] * 3,
    )
    result = rollout(affine, torch.ones(3, 1, 2, 2), spec, operator_indices=[0, 1, 2], root_seed=0)
    torch.testing.assert_close(result.final[:, 0, 0, 0, 0], torch.tensor([31.0, 23.5, 17.7578125]))


@pytest.mark.parametrize(
    ("policies", "dt", "alpha", "match"),
    [
        (["euler"], [0.1], [0.5], "unknown update policy 'euler'"),
        (["residual"], [0.0], [0.5], "dt=0.0"),
        (["residual"], [float("nan")], [0.5], "dt=nan"),
        (["convex"], [0.1], [1.5], "alpha=1.5"),
        (["convex", "convex"], [0.1], [0.5, 0.5], "one entry per sample"),
    ],
)
def test_bad_coefficients(policies: list[str], dt: list[float], alpha: list[float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        coefficients(policies, dt, alpha)
