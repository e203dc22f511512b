"""The rollout engine: shapes, state indexing and stride, determinism, divergence and bad input."""

from __future__ import annotations

import hashlib
import math
import subprocess
import sys
import textwrap
from collections.abc import Callable, Sequence

import pytest
import torch

from spinlock.core.config.run import NoiseConfig, RolloutConfig
from spinlock.core.rollout import STATUS_DIVERGED, STATUS_OK, RolloutSpec, rollout


def spec_for(n: int, **kwargs: object) -> RolloutSpec:
    base: dict[str, object] = {
        "steps": 6,
        "realizations": 2,
        "policy": ["convex"] * n,
        "dt": [0.1] * n,
        "alpha": [0.5] * n,
        "noise_scale": [0.05] * n,
    }
    base.update(kwargs)
    return RolloutSpec(**base)  # type: ignore[arg-type]


def make_step(indices: Sequence[int], m: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """A row-independent nonlinear operator whose parameters depend on the global operator index."""
    gain = torch.tensor([0.6 + 0.07 * (i % 9) for i in indices]).repeat_interleave(m).view(-1, 1, 1, 1)
    shift = (1 + torch.tensor(list(indices)) % 3).repeat_interleave(m).tolist()

    def step(x: torch.Tensor) -> torch.Tensor:
        rolled = torch.stack([torch.roll(x[i], shifts=int(shift[i]), dims=-1) for i in range(x.shape[0])])
        return torch.tanh(gain * rolled) + 0.1 * x

    return step


def ic(indices: Sequence[int], shape: tuple[int, int, int] = (2, 16, 16)) -> torch.Tensor:
    out = []
    for i in indices:
        g = torch.Generator().manual_seed(1000 + i)
        out.append(torch.randn(shape, generator=g))
    return torch.stack(out)


def run(indices: Sequence[int], **kwargs: object) -> torch.Tensor:
    noise = kwargs.pop("noise", NoiseConfig(type="gaussian", scale=0.05))
    channels_last = bool(kwargs.pop("channels_last", False))
    spec = spec_for(len(indices), steps=7, realizations=3, noise=noise, **kwargs)
    result = rollout(
        make_step(indices, 3),
        ic(indices),
        spec,
        operator_indices=indices,
        root_seed=11,
        store_trajectory=True,
        channels_last=channels_last,
    )
    assert result.trajectories is not None
    return result.trajectories


def test_shapes_and_stored_steps() -> None:
    spec = spec_for(3, steps=7, stride=3)
    result = rollout(
        lambda x: 0.5 * x, ic([0, 1, 2]), spec, operator_indices=[0, 1, 2], root_seed=0, store_trajectory=True
    )
    assert result.trajectories is not None
    assert result.trajectories.shape == (3, 2, 3, 2, 16, 16)  # T' = ceil(7 / 3)
    assert result.stored_steps == (0, 3, 6)
    assert result.final.shape == (3, 2, 2, 16, 16)
    assert result.status == (STATUS_OK,) * 3
    assert result.diverged_step == (-1, -1, -1)
    assert torch.equal(result.trajectories[:, :, -1], result.final)  # state 6 = x_{T-1}
    none = rollout(lambda x: x, ic([0]), spec_for(1), operator_indices=[0], root_seed=0)
    assert none.trajectories is None


@pytest.mark.parametrize(("steps", "stride"), [(1, 1), (6, 4), (8, 4), (9, 4), (5, 1), (5, 10)])
def test_stride_keeps_ceil_t_over_stride_states(steps: int, stride: int) -> None:
    # autoregressive x ← x + 1 from 0 without noise: state t equals t
    spec = spec_for(1, steps=steps, stride=stride, policy=["autoregressive"], noise_scale=[0.0])
    result = rollout(
        lambda x: x + 1,
        torch.zeros(1, 1, 4, 4),
        spec,
        operator_indices=[0],
        root_seed=0,
        store_trajectory=True,
    )
    assert result.trajectories is not None
    assert result.trajectories.shape[2] == math.ceil(steps / stride)
    assert result.trajectories[0, 0, :, 0, 0, 0].tolist() == [float(t) for t in range(0, steps, stride)]
    assert float(result.final[0, 0, 0, 0, 0]) == steps - 1


@pytest.mark.parametrize(
    "noise",
    [
        NoiseConfig(type="gaussian", scale=0.05),
        NoiseConfig(type="laplace", scale=0.05, schedule="annealing"),
        NoiseConfig(type="multiplicative", scale=0.05, schedule="periodic", period=3),
        NoiseConfig(type="gaussian", scale=0.05, correlation_length=2.0),
    ],
    ids=["gaussian", "laplace", "multiplicative", "correlated"],
)
def test_operator_alone_equals_operator_in_batch(noise: NoiseConfig) -> None:
    alone = run([5], noise=noise)
    batch_indices = [20, 21, 22, 5, 23, 24, 25, 26]
    batch = run(batch_indices, noise=noise)
    assert torch.equal(alone[0], batch[3])
    assert not torch.equal(batch[3], batch[4])


def test_channels_last_plan() -> None:
    # without noise the layout changes nothing; with noise each layout is its own batch-independent plan
    quiet = {"noise_scale": [0.0, 0.0]}
    assert torch.equal(run([1, 2], **quiet), run([1, 2], channels_last=True, **quiet))
    for noise in (NoiseConfig(type="laplace", scale=0.05), NoiseConfig(scale=0.05, correlation_length=2.0)):
        alone = run([5], channels_last=True, noise=noise)
        batch = run([7, 5, 9], channels_last=True, noise=noise)
        assert torch.equal(alone[0], batch[1])
    assert batch.permute(0, 1, 2, 4, 5, 3).is_contiguous()  # stored in the states' layout


def digest(t: torch.Tensor) -> str:
    return hashlib.sha256(t.contiguous().numpy().tobytes()).hexdigest()


def test_process_independence() -> None:
    here = digest(run([3, 4], noise=NoiseConfig(type="laplace", scale=0.1, correlation_length=1.5)))
    code = textwrap.dedent(
        f"""
        import importlib.util, sys
        spec = importlib.util.spec_from_file_location("engine_tests", {__file__!r})
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        from spinlock.core.config.run import NoiseConfig
        t = module.run([3, 4], noise=NoiseConfig(type="laplace", scale=0.1, correlation_length=1.5))
        print(module.digest(t))
        """
    )
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert there.stdout.strip() == here


def test_divergence_step_and_frozen_finite_states() -> None:
    # x ← 3x from 1: state t is 3^t; 3^8 = 6561 ≤ 1e4 < 3^9 = 19683, so the first bad state is t = 9.
    spec = spec_for(
        2, steps=16, policy=["autoregressive"] * 2, noise_scale=[0.0, 0.0], divergence_threshold=1e4
    )
    gain = torch.tensor([3.0, 3.0, 0.5, 0.5]).view(4, 1, 1, 1)
    result = rollout(
        lambda x: gain * x,
        torch.ones(2, 1, 4, 4),
        spec,
        operator_indices=[0, 1],
        root_seed=0,
        store_trajectory=True,
    )
    assert result.status == (STATUS_DIVERGED, STATUS_OK)
    assert result.diverged_step == (9, -1)
    assert result.diverged == (True, False)
    traj = result.trajectories
    assert traj is not None
    assert bool(torch.isfinite(traj).all()) and bool(torch.isfinite(result.final).all())
    assert traj[0, 0, :9, 0, 0, 0].tolist() == [3.0**t for t in range(9)]
    assert bool((traj[0, :, 9:] == 3.0**8).all())  # frozen at the last good state
    assert torch.equal(result.final[0], traj[0, :, 8])
    assert traj[1, 0, :, 0, 0, 0].tolist() == [0.5**t for t in range(16)]  # the stable neighbour is untouched


def test_non_finite_realization_and_initial_condition() -> None:
    spec = spec_for(2, steps=5, policy=["autoregressive"] * 2, noise_scale=[0.0, 0.0], realizations=2)

    def step(x: torch.Tensor) -> torch.Tensor:
        out = x + 1
        out[1] = float("nan")  # operator 0, realization 1 breaks on the first update
        return out

    u0 = torch.zeros(2, 1, 3, 3)
    u0[1, 0, 0, 0] = float("inf")  # operator 1's IC is already bad
    result = rollout(step, u0, spec, operator_indices=[0, 1], root_seed=0, store_trajectory=True)
    assert result.diverged_step == (1, 0)
    assert result.trajectories is not None
    assert bool(torch.isfinite(result.trajectories).all())
    assert bool(
        (result.trajectories[0] == 0).all()
    )  # frozen at the IC (the last state where all were finite)
    assert bool((result.trajectories[1] == 0).all())  # no finite state at all: zeros


def test_reduced_precision_runs() -> None:
    spec = spec_for(2, steps=4)
    result = rollout(
        lambda x: 0.5 * x, ic([0, 1]), spec, operator_indices=[0, 1], root_seed=0, dtype=torch.bfloat16
    )
    assert result.final.dtype == torch.bfloat16
    assert bool(torch.isfinite(result.final.float()).all())


def test_from_config() -> None:
    config = RolloutConfig(steps=8, realizations=2, policy="residual", dt=0.2)
    spec = RolloutSpec.from_config(config, 3, stride=2, noise_scale=[0.0, 0.1, 0.2])
    assert spec.policy == ("residual",) * 3 and spec.dt == (0.2,) * 3
    assert spec.noise_scale == (0.0, 0.1, 0.2)
    assert spec.stored_steps == (0, 2, 4, 6)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"realizations": 0}, "'realizations' must be an integer >= 1"),
        ({"steps": 0}, "'steps'"),
        ({"stride": 0}, "'stride'"),
        ({"policy": ["convex", "leapfrog"]}, "unknown update policy 'leapfrog'"),
        ({"dt": [0.1]}, "'dt' has 1 entries"),
        ({"divergence_threshold": 0.0}, "divergence_threshold"),
        ({"noise_scale": [0.1, -1.0]}, "noise_scale"),
        ({"alpha": [0.5, 2.0]}, "alpha=2.0"),
    ],
)
def test_bad_spec(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        spec_for(2, **kwargs)


def test_bad_rollout_inputs() -> None:
    spec = spec_for(2)
    u0 = ic([0, 1])
    with pytest.raises(ValueError, match="u0 holds 3 operators"):
        rollout(lambda x: x, ic([0, 1, 2]), spec, operator_indices=[0, 1, 2], root_seed=0)
    with pytest.raises(ValueError, match=r"u0 must have shape \(O, C, H, W\)"):
        rollout(lambda x: x, u0[0], spec, operator_indices=[0, 1], root_seed=0)
    with pytest.raises(ValueError, match="operator_indices has 1 entries"):
        rollout(lambda x: x, u0, spec, operator_indices=[0], root_seed=0)
    with pytest.raises(ValueError, match="duplicates"):
        rollout(lambda x: x, u0, spec, operator_indices=[4, 4], root_seed=0)
    with pytest.raises(ValueError, match="step_fn returned shape"):
        rollout(lambda x: x[:, :1], u0, spec, operator_indices=[0, 1], root_seed=0)
