"""Rollout engine overhead: the full rollout against the bare operator work it contains, and noise throughput.

Run with ``python benchmarks/bench_rollout_overhead.py [--threads N]``; every figure and ratio comes from this
one run (the machine is shared: compare ratios, not absolute times across runs).

- ``step_fn``: O = 32 operators × M = 3 realizations on 64×64, as grouped 3×3 convolutions with stacked
  per-operator weights (``channels_last``, zero padding, tanh between layers). Case A: a 16-channel state and
  three 16→16 convs; case B: a 3-channel state lifted to 16 hidden channels (3→16, 16→16, 16→16, 16→3).
- ``bare``: the same step_fn called T − 1 times on a fixed input; ``rollout``: ``rollout`` with convex policy,
  Gaussian noise, divergence check and trajectory storage (stride 1). Target: rollout / bare ≤ 1.5.
- Noise throughput: T − 1 draws of the (O·M, C, H, W) float32 noise buffer against the memory-bandwidth roof,
  a plain copy of a tensor of the same size (read + write counted).
"""

from __future__ import annotations

import argparse
import itertools
import math
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from spinlock.core.config.run import NoiseConfig
from spinlock.core.rollout import NoiseStreams, RolloutSpec, rollout
from spinlock.core.rollout.engine import _bad_rows
from spinlock.core.rollout.policies import apply_update, coefficients

O, M, H, W = 32, 3, 64, 64  # noqa: E741
STEPS = 16
REPEATS = 3


class GroupedConvStep:
    """O operators of one architecture as grouped convolutions; realizations in the batch dimension."""

    def __init__(self, channels: int, widths: list[int], seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.channels = channels
        sizes = [channels, *widths, channels]
        self.weights = [
            (torch.randn(O * c_out, c_in, 3, 3, generator=g) / (3.0 * c_in**0.5)).contiguous(
                memory_format=torch.channels_last
            )
            for c_in, c_out in itertools.pairwise(sizes)
        ]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        c = self.channels
        # rows (o·M + m) → batch m, channel block o: (M, O·C, H, W) channels-last for the grouped convs
        z = x.view(O, M, c, H, W).transpose(0, 1).reshape(M, O * c, H, W)
        z = z.contiguous(memory_format=torch.channels_last)
        for i, w in enumerate(self.weights):
            z = F.conv2d(z, w, padding=1, groups=O)
            if i < len(self.weights) - 1:
                z = z.tanh_()
        out = z.view(M, O, c, H, W).permute(1, 0, 3, 4, 2).reshape(O * M, H, W, c)
        return out.permute(0, 3, 1, 2)  # (O·M, C, H, W), channels-last memory

    def flops(self) -> float:
        return sum(2.0 * w.shape[0] * w.shape[1] * 9 * H * W * M for w in self.weights)


def best(work: Callable[[], object], repeats: int = REPEATS, warm: bool = True) -> float:
    if warm:
        work()  # warm-up: allocator, oneDNN primitive cache
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def case(name: str, channels: int, widths: list[int]) -> None:
    step = GroupedConvStep(channels, widths)
    u0 = torch.randn(O, channels, H, W)
    spec = RolloutSpec(
        steps=STEPS,
        realizations=M,
        policy=["convex"] * O,
        dt=[0.1] * O,
        alpha=[0.5] * O,
        noise_scale=[0.01] * O,
        noise=NoiseConfig(type="gaussian", scale=0.01),
    )
    x = u0.repeat_interleave(M, 0).contiguous(memory_format=torch.channels_last)

    def bare() -> None:
        with torch.inference_mode():
            for _ in range(STEPS - 1):
                step(x)

    def full() -> None:
        rollout(
            step, u0, spec, operator_indices=range(O), root_seed=0, store_trajectory=True, channels_last=True
        )

    # alternate the two so that load from other processes hits both alike; keep the fastest of each
    bare()
    full()
    t_bare = t_full = math.inf
    for _ in range(REPEATS):
        t_bare = min(t_bare, best(bare, repeats=1, warm=False))
        t_full = min(t_full, best(full, repeats=1, warm=False))
    # per-step engine components, on the same shapes
    rows = O * M
    prev = x.clone()
    nxt = torch.empty_like(prev)
    f = step(prev)
    coeffs = coefficients(spec.policy, spec.dt, spec.alpha).repeat(M)
    noise = NoiseStreams(
        spec.noise,
        root_seed=0,
        operator_indices=range(O),
        realizations=M,
        shape=(channels, H, W),
        steps=STEPS,
        device="cpu",
        memory_format=torch.channels_last,
    )
    traj = torch.empty(O, M, H, W, channels).permute(0, 1, 4, 2, 3)  # the engine's channels-last storage
    parts = {
        "policy update": lambda: apply_update(prev, f, coeffs, out=nxt),
        "noise draw": lambda: noise.draw(1),
        "noise draw + add": lambda: noise.apply_(nxt, 1),
        "divergence check": lambda: _bad_rows(nxt, 1e4).any().item(),
        "trajectory store": lambda: traj.copy_(nxt.view(O, M, channels, H, W)),
    }
    with torch.inference_mode():
        t_parts = {k: best(lambda v=v: [v() for _ in range(STEPS - 1)]) for k, v in parts.items()}
    src = torch.randn(rows, channels, H, W)  # the noise buffer's size
    dst = torch.empty_like(src)
    t_copy = best(lambda: [dst.copy_(src) for _ in range(STEPS - 1)])
    nbytes = src.numel() * 4 * (STEPS - 1)

    print(f"\n== case {name}: state {channels} ch, widths {widths}, O={O} M={M} {H}x{W}, T={STEPS}")
    gf = step.flops() * (STEPS - 1) / t_bare / 1e9
    print(f"bare step_fn, {STEPS - 1} calls:        {t_bare * 1e3:8.1f} ms  ({gf:.0f} conv GFLOP/s)")
    print(f"full rollout:                      {t_full * 1e3:8.1f} ms")
    print(f"ratio rollout / bare step_fn:      {t_full / t_bare:8.2f}x   (target <= 1.5x)")
    for k, v in t_parts.items():
        print(f"  engine part {k:<22}{v * 1e3:8.1f} ms  ({v / t_bare * 100:5.1f}% of bare)")
    copy_bw = 2 * nbytes / t_copy / 1e9
    draw_bw = nbytes / t_parts["noise draw"] / 1e9
    print(f"memory roof, plain copy (r+w):     {copy_bw:8.1f} GB/s")
    print(
        f"noise draw (write):                {draw_bw:8.2f} GB/s  = {draw_bw / copy_bw:.3f} of the copy roof"
    )
    print(f"noise draw / same-size copy time:  {t_parts['noise draw'] / t_copy:8.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    case("A", 16, [16, 16])
    case("B", 3, [16, 16, 16])


if __name__ == "__main__":
    main()
