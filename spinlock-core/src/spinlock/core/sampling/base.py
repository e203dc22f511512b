"""The sampler protocol shared by every unit-cube sampler."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray


class NonPowerOfTwoWarning(UserWarning):
    """A Sobol sample whose size is not a power of two (the net's balance is lost)."""


@runtime_checkable
class Sampler(Protocol):
    """Draws points of the unit cube from an infinite, seeded sequence."""

    def sample(self, n: int, dimension: int, seed: int, start: int = 0) -> NDArray[np.float64]:
        """Return points ``[start, start + n)`` of the sequence for ``(dimension, seed)``.

        :param n: number of points, ``n >= 0``.
        :param dimension: number of coordinates per point, ``dimension >= 1``.
        :param seed: the run seed, ``0 <= seed < 2**64``.
        :param start: index of the first point, so that shards and resumed runs get exactly the
            points a single run would have produced.
        :returns: float64 array of shape ``(n, dimension)`` with values in ``[0, 1)``.
        """
        ...


def check_sample_request(n: int, dimension: int, seed: int, start: int) -> None:
    """Raise ``ValueError`` naming the first invalid argument of :meth:`Sampler.sample`."""
    for name, value in (("n", n), ("dimension", dimension), ("seed", seed), ("start", start)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"{name} must be an integer, got {value!r}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if dimension < 1:
        raise ValueError(f"dimension must be >= 1, got {dimension}")
    if not 0 <= seed < 2**64:
        raise ValueError(f"seed must be in [0, 2**64), got {seed}")
    if start < 0:
        raise ValueError(f"start must be >= 0, got {start}")
