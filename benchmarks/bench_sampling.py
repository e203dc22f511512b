"""Sampling benchmark: Owen-scrambled Sobol against scipy's own scrambled Sobol, and quality-metric cost.

Run with ``python benchmarks/bench_sampling.py``; every figure and ratio comes from this one run.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from scipy.stats import qmc

from spinlock.core.sampling.configs import SobolConfig
from spinlock.core.sampling.quality import measure_quality
from spinlock.core.sampling.sobol import SobolSampler

DIMENSION = 20
N_SOBOL = 2**16
N_QUALITY = 100_000
REPEATS = 5


def best_time(work: Callable[[], object], repeats: int = REPEATS) -> float:
    """Fastest wall time of ``repeats`` calls, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    owen = SobolSampler(SobolConfig(scramble=True))
    plain = SobolSampler(SobolConfig(scramble=False))
    t_owen = best_time(lambda: owen.sample(N_SOBOL, DIMENSION, seed=0))
    t_net = best_time(lambda: plain.sample(N_SOBOL, DIMENSION, seed=0))
    t_scipy = best_time(lambda: qmc.Sobol(DIMENSION, scramble=True, seed=0).random(N_SOBOL))
    points = np.random.default_rng(0).random((N_QUALITY, DIMENSION))
    t_quality = best_time(lambda: measure_quality(points), repeats=2)
    quality = measure_quality(points)
    t_quality_4k = best_time(lambda: measure_quality(points, max_exact_points=4096), repeats=2)

    rows = [
        (f"Owen-scrambled Sobol (ours), n=2^16, d={DIMENSION}", t_owen),
        (f"unscrambled Sobol net (scipy, bits=32), n=2^16, d={DIMENSION}", t_net),
        (f"scipy qmc.Sobol(scramble=True) (LMS+shift), n=2^16, d={DIMENSION}", t_scipy),
        (
            f"measure_quality, n={N_QUALITY}, d={DIMENSION} (CD on {quality.discrepancy_points}-point prefix)",
            t_quality,
        ),
        (f"measure_quality, n={N_QUALITY}, d={DIMENSION} (max_exact_points=4096)", t_quality_4k),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"{'case':<{width}}  {'best of runs [ms]':>18}")
    for name, seconds in rows:
        print(f"{name:<{width}}  {seconds * 1e3:>18.1f}")
    print(f"ratio Owen (ours) / scipy scramble=True: {t_owen / t_scipy:.1f}x")
    print(f"ratio Owen scramble alone / scipy scramble=True: {(t_owen - t_net) / t_scipy:.1f}x")


if __name__ == "__main__":
    main()
