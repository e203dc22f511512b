"""Noise streams: statistics against their definitions, spatial correlation, schedules and stream identity.

Sample sizes and tolerances: every statistic is compared with its expectation within 5 standard errors of the
estimator (draws are seeded, so the tests are deterministic; 5 SE keeps them robust to any seed). With n iid
samples of variance σ²: SE(mean) = σ/√n; SE(sample variance) = σ²·√((κ − 1)/n) with κ the kurtosis (3 for
Gaussian, 6 for Laplace); SE(sample kurtosis) ≈ √((μ8 − μ4²)/n)/σ⁴ (Laplace: μ4 = 6, μ8 = 2520 in σ units).
"""

from __future__ import annotations

import math

import pytest
import torch

from spinlock.core.config.run import NoiseConfig
from spinlock.core.rollout import NoiseStreams, correlation_filter, schedule_factor
from spinlock.core.seeding import derive_seed

SHAPE = (3, 64, 64)


def streams(config: NoiseConfig, indices: list[int], m: int = 2, **kwargs: object) -> NoiseStreams:
    return NoiseStreams(
        config, root_seed=7, operator_indices=indices, realizations=m, shape=SHAPE, steps=10, **kwargs
    )


def moments(x: torch.Tensor) -> tuple[float, float, float, int]:
    v = x.double().flatten()
    mean = v.mean()
    var = ((v - mean) ** 2).mean()
    kurt = ((v - mean) ** 4).mean() / var**2
    return float(mean), float(var), float(kurt), v.numel()


@pytest.mark.parametrize(("kind", "kurtosis", "mu8"), [("gaussian", 3.0, 105.0), ("laplace", 6.0, 2520.0)])
def test_additive_noise_moments(kind: str, kurtosis: float, mu8: float) -> None:
    s = 0.3
    noise = streams(NoiseConfig(type=kind, scale=s), list(range(8)), m=2).draw(1)  # 16·3·64² ≈ 197k samples
    mean, var, kurt, n = moments(noise)
    assert abs(mean) < 5 * s / math.sqrt(n)
    assert abs(var / s**2 - 1) < 5 * math.sqrt((kurtosis - 1) / n)
    assert abs(kurt - kurtosis) < 5 * math.sqrt((mu8 - kurtosis**2) / n)


def test_multiplicative_noise_scales_with_state() -> None:
    s = 0.2
    noise = streams(NoiseConfig(type="multiplicative", scale=s), list(range(4)), m=2)
    level = torch.tensor([1.0, -10.0] * 4).view(8, 1, 1, 1)
    state = level.expand(8, *SHAPE).contiguous()
    perturbed = noise.apply_(state.clone(), 1)
    relative = (perturbed - state) / state  # = σ ε
    n = relative[0].numel()
    for row in range(8):
        _, var, _, _ = moments(relative[row])
        assert abs(var / s**2 - 1) < 5 * math.sqrt(2 / n)
        spread = float((perturbed[row] - state[row]).std())
        assert spread == pytest.approx(s * abs(float(level[row])), rel=5 * math.sqrt(2 / n))


def test_additive_apply_adds_the_draw() -> None:
    a = streams(NoiseConfig(type="gaussian", scale=0.1), [3])
    b = streams(NoiseConfig(type="gaussian", scale=0.1), [3])
    state = torch.full((2, *SHAPE), 5.0)
    torch.testing.assert_close(a.apply_(state, 1), 5.0 + b.draw(1))


def autocorrelation(x: torch.Tensor) -> torch.Tensor:
    """Mean periodic autocorrelation ρ(r) along both axes, r = 0 … W/2."""
    spec = torch.fft.rfft2(x.double())
    power = torch.fft.irfft2(spec.abs() ** 2, s=x.shape[-2:]).flatten(0, -3).mean(0)
    rho = power / power[0, 0]
    half = x.shape[-1] // 2
    return 0.5 * (rho[0, : half + 1] + rho[: half + 1, 0])


def crossing(rho: torch.Tensor, level: float) -> float:
    """The lag at which ρ first falls below ``level`` (linear interpolation)."""
    below = int(torch.nonzero(rho < level)[0])
    r0, r1 = float(rho[below - 1]), float(rho[below])
    return below - 1 + (r0 - level) / (r0 - r1)


@pytest.mark.parametrize("length", [2.0, 4.0, 6.0])
def test_correlation_length_tracks_the_autocorrelation(length: float) -> None:
    noise = streams(NoiseConfig(scale=1.0, correlation_length=length), list(range(8))).draw(1)
    measured = crossing(autocorrelation(noise), math.exp(-0.5))
    assert measured == pytest.approx(length, rel=0.1)
    # the analytic autocorrelation of the filter itself: exp(-r²/2ℓ²) on the periodic grid
    g2 = correlation_filter(length, 64, 64).double() ** 2
    rho = torch.fft.irfft2(g2, s=(64, 64))[0]
    rho = rho / rho[0]
    r = torch.arange(8, dtype=torch.float64)
    torch.testing.assert_close(rho[:8], torch.exp(-(r**2) / (2 * length**2)), atol=2e-3, rtol=0)


@pytest.mark.parametrize("length", [0.5, 3.0, 20.0])
def test_correlated_variance_is_exact_by_construction(length: float) -> None:
    # Filtered unit white noise has variance Σ g² where g is the kernel: normalised to exactly 1.
    kernel = torch.fft.irfft2(correlation_filter(length, 32, 48).double(), s=(32, 48))
    assert float((kernel**2).sum()) == pytest.approx(1.0, rel=1e-6)


def test_correlated_noise_marginal_variance() -> None:
    s, length = 0.5, 2.0
    noise = streams(NoiseConfig(scale=s, correlation_length=length), list(range(16))).draw(1)
    _, var, _, _ = moments(noise)
    # about 4πℓ² cells per independent sample: n_eff ≈ 96·64²/(4π·4) ≈ 7800 → SE ≈ √(2/n_eff) ≈ 1.6%
    n_eff = noise.numel() / (4 * math.pi * length**2)
    assert abs(var / s**2 - 1) < 5 * math.sqrt(2 / n_eff)


def test_schedule_values() -> None:
    assert schedule_factor(5, steps=11, schedule="constant") == 1.0
    assert schedule_factor(0, steps=11, schedule="annealing", final_fraction=0.2) == pytest.approx(1.0)
    assert schedule_factor(5, steps=11, schedule="annealing", final_fraction=0.2) == pytest.approx(0.6)
    assert schedule_factor(10, steps=11, schedule="annealing", final_fraction=0.2) == pytest.approx(0.2)
    assert schedule_factor(2, steps=11, schedule="periodic", period=8) == pytest.approx(1.5)
    assert schedule_factor(6, steps=11, schedule="periodic", period=8) == pytest.approx(0.5)
    assert schedule_factor(4, steps=11, schedule="periodic", period=8) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="'warmup'"):
        schedule_factor(1, steps=3, schedule="warmup")


@pytest.mark.parametrize(
    ("schedule", "step"), [("annealing", 3), ("annealing", 9), ("periodic", 2), ("periodic", 5)]
)
def test_draws_receive_the_step(schedule: str, step: int) -> None:
    base = streams(NoiseConfig(scale=0.1), [1, 2])
    scheduled = streams(NoiseConfig(scale=0.1, schedule=schedule, period=8, final_fraction=0.1), [1, 2])
    factor = schedule_factor(step, steps=10, schedule=schedule, period=8, final_fraction=0.1)
    assert factor != 1.0
    for _ in range(step):  # advance both streams alike
        base.draw(0)
        scheduled.draw(0)
    torch.testing.assert_close(scheduled.draw(step), factor * base.draw(step), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("kind", ["gaussian", "laplace"])
@pytest.mark.parametrize("length", [0.0, 3.0])
def test_streams_follow_global_operator_index(kind: str, length: float) -> None:
    config = NoiseConfig(type=kind, scale=0.1, correlation_length=length)
    alone = streams(config, [5], m=3, scales=[0.4]).draw(1).clone()
    batch = streams(config, [9, 2, 5, 11], m=3, scales=[0.1, 0.2, 0.4, 0.3]).draw(1)
    assert torch.equal(alone, batch[6:9])
    assert not torch.equal(alone[0], alone[1])  # realizations differ


def test_stream_seed_and_buffer_reuse() -> None:
    noise = streams(NoiseConfig(scale=1.0), [4], m=2)
    ref = torch.Generator().manual_seed(derive_seed(7, 4, "noise/1"))
    expected = torch.empty(SHAPE).normal_(0.0, 1.0, generator=ref)
    first = noise.draw(1)
    assert torch.equal(first[1], expected)
    pointer = first.data_ptr()
    assert noise.draw(2).data_ptr() == pointer


def test_per_operator_scales() -> None:
    noise = streams(NoiseConfig(scale=1.0), [0, 1], m=1, scales=[0.0, 2.0]).draw(1)
    assert torch.count_nonzero(noise[0]) == 0
    assert float(noise[1].std()) == pytest.approx(2.0, rel=0.05)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"realizations": 0}, "realizations"),
        ({"scales": [0.1, 0.2]}, "2 entries for 1 operators"),
        ({"scales": [-1.0]}, "noise scale"),
        ({"operator_indices": []}, "empty"),
    ],
)
def test_bad_stream_arguments(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {
        "root_seed": 0,
        "operator_indices": [0],
        "realizations": 1,
        "shape": SHAPE,
        "steps": 4,
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        NoiseStreams(NoiseConfig(), **args)  # type: ignore[arg-type]
