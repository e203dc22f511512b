"""Sobol points (scipy's digital net, direction numbers of Joe and Kuo) with seeded Owen scrambling."""

from __future__ import annotations

import warnings

import numpy as np
from numpy.typing import NDArray
from scipy.stats import qmc

from spinlock.core.sampling.base import NonPowerOfTwoWarning, check_sample_request
from spinlock.core.sampling.configs import SobolConfig
from spinlock.core.sampling.owen import SCRAMBLE_BITS, owen_scramble

#: The largest dimension scipy's Sobol direction numbers support.
MAX_SOBOL_DIMENSION = 21201


class SobolSampler:
    """Sobol sequence, Owen-scrambled with the run seed (or the plain net when ``scramble=False``).

    Points are generated with ``SCRAMBLE_BITS`` = 32 binary digits, so at most ``2**32`` points exist per
    sequence. Without scrambling the result is exactly scipy's ``qmc.Sobol(d, scramble=False, bits=32)``
    and does not depend on the seed.
    """

    def __init__(self, config: SobolConfig | None = None) -> None:
        self.config = config if config is not None else SobolConfig()

    def sample(self, n: int, dimension: int, seed: int, start: int = 0) -> NDArray[np.float64]:
        """Return points ``[start, start + n)`` of the sequence; float64, shape ``(n, dimension)``, in [0, 1).

        Warns :class:`NonPowerOfTwoWarning` when a sample starting at 0 has a size that is not a power of
        two; the points are still exactly the first ``n`` of the sequence.
        """
        check_sample_request(n, dimension, seed, start)
        if dimension > MAX_SOBOL_DIMENSION:
            raise ValueError(
                f"Sobol sampling supports at most {MAX_SOBOL_DIMENSION} dimensions, got {dimension}; "
                "use the 'random' sampler for larger parameter spaces"
            )
        if start + n > 2**SCRAMBLE_BITS:
            raise ValueError(
                f"the Sobol sequence has 2**{SCRAMBLE_BITS} points; "
                f"points [{start}, {start + n}) do not exist"
            )
        if start == 0 and n > 0 and n & (n - 1):
            warnings.warn(_non_power_of_two_message(n), NonPowerOfTwoWarning, stacklevel=2)
        net = sobol_net(n, dimension, start)
        if not self.config.scramble:
            return net
        digits = (net * float(2**SCRAMBLE_BITS)).astype(np.uint64)
        return owen_scramble(digits, seed, SCRAMBLE_BITS)


def sobol_net(n: int, dimension: int, start: int = 0) -> NDArray[np.float64]:
    """Return points ``[start, start + n)`` of scipy's unscrambled Sobol sequence with 32-bit digits.

    :returns: float64 array of shape ``(n, dimension)``; every value is an exact multiple of ``2**-32``.
    """
    engine = qmc.Sobol(dimension, scramble=False, bits=SCRAMBLE_BITS)
    if start:
        engine.fast_forward(start)
    with warnings.catch_warnings():
        # scipy's own balance warning; SobolSampler.sample issues a more specific one.
        warnings.filterwarnings("ignore", message="The balance properties of Sobol", category=UserWarning)
        return np.asarray(engine.random(n), dtype=np.float64)


def _non_power_of_two_message(n: int) -> str:
    lower = 1 << (n.bit_length() - 1)
    return (
        f"n={n} is not a power of two: the (t,m,s)-net balance of Sobol points holds only for power-of-two "
        f"sample sizes; consider n={lower} or n={2 * lower}"
    )
