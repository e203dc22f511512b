"""Configuration classes of core's samplers (import-light: attrs only)."""

from __future__ import annotations

import attrs


@attrs.frozen
class SobolConfig:
    """Sobol sequence.

    :param scramble: apply Owen (nested uniform) scrambling, seeded by the run seed. Without it the
        points are the plain digital net (the first point is the origin).
    """

    scramble: bool = True


@attrs.frozen
class RandomConfig:
    """Independent uniform points from a seeded ``numpy`` PCG64 generator (for comparison with Sobol)."""
