"""A Halton sampler for Spinlock, built on :class:`scipy.stats.qmc.Halton`.

The module imports only attrs at load time; numpy and scipy are imported when points are drawn, so that
registering the plugin stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray


@attrs.frozen
class HaltonConfig:
    """Parameters of the ``halton`` sampler.

    :param scramble: randomise the sequence with seeded digit permutations. Without it the points are the
        plain Halton sequence, which starts at the origin and is the same for every seed.
    """

    scramble: bool = True


@attrs.frozen
class HaltonSampler:
    """Points of the (scrambled) Halton sequence in the unit cube ``[0, 1)^dimension``.

    Built by Spinlock from a :class:`HaltonConfig` (``spec.build(config)``).
    """

    config: HaltonConfig = attrs.field(factory=HaltonConfig)

    def sample(self, n: int, dimension: int, seed: int, start: int = 0) -> NDArray[np.float64]:
        """Points ``start, start + 1, ..., start + n - 1`` of the sequence selected by ``seed``.

        The sequence for a seed is infinite and fixed, so ``sample(n, d, seed, start=k)`` equals rows
        ``k: k + n`` of ``sample(k + n, d, seed)``: a run can be extended or split into shards without
        changing any point.

        :param n: number of points (>= 0).
        :param dimension: dimension of the unit cube (>= 1).
        :param seed: seeds the scrambling; ignored when ``scramble`` is false.
        :param start: index of the first point in the sequence (>= 0).
        :returns: array of shape ``(n, dimension)``, float64, every value in ``[0, 1)``.
        """
        import numpy as np
        from scipy.stats import qmc

        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        if dimension < 1:
            raise ValueError(f"dimension must be >= 1, got {dimension}")
        if start < 0:
            raise ValueError(f"start must be >= 0, got {start}")
        engine = qmc.Halton(d=dimension, scramble=self.config.scramble, rng=np.random.default_rng(seed))
        if start:
            engine.fast_forward(start)
        points = np.asarray(engine.random(n), dtype=np.float64)
        # Scrambled digits can round up to exactly 1.0 in float64; keep the half-open cube.
        return np.minimum(points, np.nextafter(1.0, 0.0))
