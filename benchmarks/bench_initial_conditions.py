"""Benchmark: 256 initial conditions of every registered type at 64×64, C = 3, on the CPU.

Prints, per type, the wall time of one call (best of ``--repeats``), its throughput, and its ratio to two roofs
measured in the same run on the same tensor shape ``(256, 3, 64, 64)``:

- ``fft``: one ``rfft2`` + ``irfft2`` round trip (what one spectral filtering pass costs);
- ``copy``: one memory copy of the output tensor (the memory-bandwidth floor of writing the result).

Usage: ``python benchmarks/bench_initial_conditions.py [--batch 256] [--size 64] [--channels 3]
[--threads 2] [--repeats 3] [--only NAME ...]``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch

from spinlock.core.plugins import build_plugin_manager
from spinlock.core.registry import ComponentKind
from spinlock.core.seeding import derive_seeds


def best_time(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--only", nargs="*", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    B, C, N = args.batch, args.channels, args.size
    device = torch.device(args.device)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    x = torch.randn(B, C, N, N, device=device)
    buffer = torch.empty_like(x)

    def fft_roundtrip() -> None:
        torch.fft.irfft2(torch.fft.rfft2(x), s=(N, N))
        sync()

    def copy() -> None:
        buffer.copy_(x)
        sync()

    t_fft = best_time(fft_roundtrip, max(args.repeats, 5))
    t_copy = best_time(copy, max(args.repeats, 5))
    nbytes = x.numel() * x.element_size()
    print(f"# {B} ICs of {C}×{N}×{N} float32 on {device} ({args.threads} threads), torch {torch.__version__}")
    print(
        f"# roof fft : rfft2+irfft2 of ({B},{C},{N},{N}) {t_fft * 1e3:8.2f} ms ({B * C / t_fft:,.0f} planes/s)"
    )
    print(
        f"# roof copy: copy of the output            {t_copy * 1e3:8.2f} ms ({2 * nbytes / t_copy / 1e9:.1f} GB/s)"
    )

    registry = build_plugin_manager(strict=True).components[ComponentKind.INITIAL_CONDITION]
    seeds = derive_seeds(0, range(B), "ic")
    rows = []
    for spec in registry:
        if args.only and spec.name not in args.only:
            continue
        generator = spec.build()

        def run(generator: Callable[..., torch.Tensor] = generator) -> None:
            generator(seeds, channels=C, height=N, width=N, device=device)
            sync()

        t = best_time(run, args.repeats)
        rows.append((spec.metadata.get("tier", -1), spec.name, t))

    print(f"{'tier':>4}  {'type':<26} {'ms':>9} {'ICs/s':>10} {'×fft':>7} {'×copy':>8}")
    for tier, name, t in rows:
        print(f"{tier:>4}  {name:<26} {t * 1e3:9.2f} {B / t:10,.0f} {t / t_fft:7.1f} {t / t_copy:8.0f}")
    total = sum(t for _, _, t in rows)
    print(
        f"total: {len(rows)} types × {B} ICs in {total:.2f} s "
        f"({len(rows) * B / total:,.0f} ICs/s; {total / t_fft:.0f}× one FFT round trip, "
        f"{total / t_copy:.0f}× one output copy)"
    )


if __name__ == "__main__":
    main()
