"""Batched operators: one stacked computation vs a plain per-operator loop, and conv efficiency.

Run with ``python benchmarks/bench_batched_operators.py`` (options: ``--operators``, ``--realizations``,
``--steps``, ``--grid``, ``--threads``). Every figure and ratio comes from this one run:

1. ``O`` CNN operators sharing one architecture signature (default 32 operators, 3 layers of 16 channels,
   3×3 kernels, 64² grid, 3 channels, ``M=3`` realizations) are stepped ``T`` times:
   - *batched*: one :class:`BatchedOperator` (grouped convolutions, ``(O*M, C, H, W)`` per step);
   - *loop*: ``O`` separately built operators, each stepped on its own ``(M, C, H, W)`` (the reference's way).
   Both compute the same function (checked); the ratio is loop time / batched time.
2. The convolution work inside one batched step is counted (``2·M·O·H·W·C_in·C_out·k²`` per conv), the same
   conv calls are timed alone (inputs pre-padded), and both rates are compared with a roof measured in the
   same run: a large float32 matmul (``torch.mm`` 2048², MKL/oneDNN sgemm), stated as the roof because the FMA
   micro-benchmark needs AVX-512, which not every machine has.

Set ``MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=100000000000`` to avoid page-fault churn on fresh tensors
(see ``machine-limits.md``); the script prints whether they are set.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from spinlock.operators.architectures import CNNConfig, build_batched, build_single
from spinlock.operators.blocks.conv import StackedConv2d


def median_time(work: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``repeats`` calls after one warm-up call, in seconds."""
    work()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def matmul_roof(repeats: int = 5, n: int = 2048) -> float:
    """float32 GFLOP/s of an ``n × n`` matmul."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    out = torch.empty(n, n)
    seconds = median_time(lambda: torch.mm(a, b, out=out), repeats)
    return 2 * n**3 / seconds / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--operators", type=int, default=32)
    parser.add_argument("--realizations", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--grid", type=int, default=64)
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--base-channels", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    ops, m, steps, side, c = args.operators, args.realizations, args.steps, args.grid, args.channels
    config = CNNConfig(num_layers=3, base_channels=args.base_channels, kernel_size=3)
    grid = (c, side, side)
    indices = list(range(ops))

    batched = build_batched("cnn", config, indices, 0, grid_shape=grid)
    singles = [build_single("cnn", config, i, 0, grid_shape=grid) for i in indices]
    x0 = torch.randn(ops * m, c, side, side, generator=torch.Generator().manual_seed(0))

    def run_batched() -> torch.Tensor:
        x = x0
        for _ in range(steps):
            x = torch.tanh(batched(x))  # a bounded autoregressive update keeps values sane
        return x

    chunks = [x0[o * m : (o + 1) * m] for o in range(ops)]

    def run_loop() -> torch.Tensor:
        outs = []
        for op, x in zip(singles, chunks, strict=True):
            for _ in range(steps):
                x = torch.tanh(op(x))
            outs.append(x)
        return torch.cat(outs)

    with torch.inference_mode():
        # one application: the stack and the singles agree to float tolerance (over T autoregressive steps the
        # random maps amplify rounding differences, so only the single step is a meaningful comparison)
        single_outputs = torch.cat([op(x) for op, x in zip(singles, chunks, strict=True)])
        difference = (batched(x0) - single_outputs).abs().max().item()
        t_batched = median_time(run_batched, args.repeats)
        t_loop = median_time(run_loop, args.repeats)

        # the conv calls of one batched step, alone
        convs = [mod for mod in batched.net.modules() if isinstance(mod, StackedConv2d)]
        calls = []
        flops = 0
        for conv in convs:
            k = conv.kernel_size
            padded = torch.randn(m, ops * conv.in_channels, side + k - 1, side + k - 1)
            weight = conv.weight.reshape(-1, conv.in_channels, k, k)
            bias = None if conv.bias is None else conv.bias.reshape(-1)
            calls.append((padded, weight, bias))
            flops += 2 * m * ops * side * side * conv.in_channels * conv.out_channels * k * k

        def run_convs() -> None:
            for padded, weight, bias in calls:
                F.conv2d(padded, weight, bias, groups=ops)

        t_convs = median_time(lambda: [run_convs() for _ in range(steps)], args.repeats)
        roof = matmul_roof()

    malloc = "set" if os.environ.get("MALLOC_MMAP_MAX_") == "0" else "not set"
    step_flops = flops * steps
    print(f"threads={torch.get_num_threads()}  MALLOC_MMAP_MAX_=0: {malloc}")
    print(
        f"{ops} CNN operators (3×{args.base_channels}ch, 3×3, {side}², C={c}), M={m}, T={steps}; "
        f"one-step max |batched - loop| = {difference:.2e}"
    )
    print(
        f"  batched (grouped conv) : {t_batched * 1e3:9.1f} ms  {ops * m * steps / t_batched:9.1f} op·real·steps/s"
    )
    print(
        f"  per-operator loop      : {t_loop * 1e3:9.1f} ms  {ops * m * steps / t_loop:9.1f} op·real·steps/s"
    )
    print(f"  speed-up batched / loop: {t_loop / t_batched:9.2f}×  (target >= 3×)")
    print(f"conv work per run: {step_flops / 1e9:.2f} GFLOP")
    print(f"  bare conv calls        : {t_convs * 1e3:9.1f} ms  {step_flops / t_convs / 1e9:7.1f} GFLOP/s")
    print(
        f"  batched forward        : {t_batched * 1e3:9.1f} ms  {step_flops / t_batched / 1e9:7.1f} GFLOP/s (conv FLOPs only)"
    )
    print(f"  forward / bare convs   : {t_batched / t_convs:9.2f}×")
    print(f"  roof (sgemm 2048²)     : {roof:7.1f} GFLOP/s; bare convs at {step_flops / t_convs / 1e9 / roof:.0%}, "
          f"forward at {step_flops / t_batched / 1e9 / roof:.0%}")  # fmt: skip


if __name__ == "__main__":
    main()
