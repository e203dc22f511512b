"""Benchmark: TEMPORAL per-timestep feature extraction throughput, against roofs measured in the same run.

Input ``(N, M, T, C, H, W)`` = ``(64, 3, 16, 3, 64, 64)`` by default; a *frame* is one ``(C, H, W)`` state of one
realization, so one call processes ``N·M·T`` frames. Roofs on the same tensor:

- ``read``: ``x.sum()``, one read pass (memory-bandwidth bound);
- ``rfft2``: one ``rfft2`` of every field (the FFT a spectral pass cannot avoid).

Usage: ``python benchmarks/bench_temporal_features.py [--n 64] [--m 3] [--t 16] [--channels 3] [--size 64]
[--threads 0] [--repeats 3] [--device cpu]`` (``--threads 0`` keeps torch's default).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch

from spinlock.core.features.family import FeatureInputs
from spinlock.features.temporal.family import TemporalFamily


def best_time(fn: Callable[[], object], sync: Callable[[], None], repeats: int) -> float:
    fn()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--m", type=int, default=3)
    parser.add_argument("--t", type=int, default=16)
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    x = torch.randn(args.n, args.m, args.t, args.channels, args.size, args.size, device=device)
    frames = args.n * args.m * args.t
    family = TemporalFamily()
    inputs = FeatureInputs(trajectory=x)
    D = len(family.columns(inputs))

    def extract() -> None:
        # fresh inputs each call: the per-frame statistics are memoised per FeatureInputs
        with torch.inference_mode():
            family.compute(FeatureInputs(trajectory=x))

    results = {
        "read (x.sum)": best_time(lambda: x.sum(), sync, args.repeats),
        "rfft2": best_time(lambda: torch.fft.rfft2(x), sync, args.repeats),
        f"temporal (D={D})": best_time(extract, sync, args.repeats),
    }
    print(
        f"TEMPORAL on {tuple(x.shape)} ({frames} frames of {args.channels}×{args.size}²), "
        f"device={device}, threads={torch.get_num_threads()}"
    )
    rate = {name: frames / t for name, t in results.items()}
    temporal = rate[f"temporal (D={D})"]
    for name, t in results.items():
        print(f"  {name:18s} {t * 1e3:9.2f} ms  {rate[name]:12,.0f} frames/s")
    print(f"  temporal / read roof  = {temporal / rate['read (x.sum)']:.3f}")
    print(f"  temporal / rfft2 roof = {temporal / rate['rfft2']:.3f}")


if __name__ == "__main__":
    main()
