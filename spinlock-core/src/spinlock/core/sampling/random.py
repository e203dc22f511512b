"""Independent uniform points from a seeded PCG64 stream (the baseline Sobol is compared with)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from spinlock.core.sampling.base import check_sample_request
from spinlock.core.sampling.configs import RandomConfig


class RandomSampler:
    """Uniform points; point ``i`` consumes draws ``[i * dimension, (i + 1) * dimension)`` of one stream.

    The stream is ``PCG64(seed)`` and each float64 consumes exactly one 64-bit draw, so ``PCG64.advance``
    jumps straight to point ``start``: any slice equals the same rows of a single run.
    """

    def __init__(self, config: RandomConfig | None = None) -> None:
        self.config = config if config is not None else RandomConfig()

    def sample(self, n: int, dimension: int, seed: int, start: int = 0) -> NDArray[np.float64]:
        """Return points ``[start, start + n)``; float64, shape ``(n, dimension)``, values in [0, 1)."""
        check_sample_request(n, dimension, seed, start)
        bit_generator = np.random.PCG64(seed)
        if start:
            bit_generator.advance(start * dimension)
        return np.random.Generator(bit_generator).random((n, dimension), dtype=np.float64)
