"""Features from a plain numpy array with only spinlock-core and spinlock-features installed.

Used by ``nox -s features_only`` (which installs just those two wheels); not a test module::

    python tests/packaging/extract_summary_from_numpy.py [FAMILY]   # FAMILY defaults to ``summary``

It builds random trajectories ``(N, M, T, C, H, W)``, calls
``spinlock.features.api.extract(FAMILY, trajectory=array)`` and checks that the values are a float32 array of
shape ``(N, D)`` — or ``(N, T, D)`` for a per-timestep family — with D equal to the number of column names,
finite, and the same whatever the batch size; and that spinlock-operators is not importable (so nothing here
relied on it). Run it from outside the repository so that nothing is imported from the source tree.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from typing import NoReturn

import numpy as np

N, M, T, C, H, W = 5, 2, 6, 3, 16, 16


def fail(message: str) -> NoReturn:
    print(f"extract_summary_from_numpy: FAIL: {message}", file=sys.stderr)
    raise SystemExit(1)


def random_trajectories(seed: int) -> np.ndarray:
    """Smooth random modes that decay over time plus noise, ``(N, M, T, C, H, W)`` float32."""
    rng = np.random.default_rng(seed)
    y, x = np.meshgrid(np.arange(H) / H, np.arange(W) / W, indexing="ij")
    k = rng.integers(1, 4, (N, 1, 1, C, 1, 1))
    phase = rng.random((N, M, 1, C, 1, 1))
    decay = np.exp(-np.linspace(0.0, 1.0, T))[None, None, :, None, None, None]
    fields = np.sin(2 * np.pi * (k * x + y + phase)) * decay + 0.2 * rng.standard_normal((N, M, T, C, H, W))
    return fields.astype(np.float32)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("family", nargs="?", default="summary", help="feature family (default: summary)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    if importlib.util.find_spec("spinlock.operators") is not None:
        fail("spinlock.operators is importable; this check needs an environment without spinlock-operators")
    import spinlock.features
    from spinlock.features.api import extract

    origin = spinlock.features.__file__ or ""
    if "site-packages" not in origin:
        fail(f"spinlock.features was imported from {origin!r}, not from the installed wheel")

    trajectories = random_trajectories(args.seed)
    values, columns = extract(args.family, trajectory=trajectories)
    if not isinstance(values, np.ndarray) or values.dtype != np.float32:
        fail(f"values are {type(values).__name__} {getattr(values, 'dtype', '')}, expected a float32 ndarray")
    D = len(columns.names)
    expected = (N, T, D) if columns.per_timestep else (N, D)
    if values.shape != expected:
        fail(f"values have shape {values.shape}, expected {expected} (per_timestep={columns.per_timestep})")
    if D == 0 or len(columns.categories) != D:
        fail(f"{D} column names and {len(columns.categories)} categories")
    if not np.isfinite(values).all():
        bad = sorted({columns.names[i] for i in np.nonzero(~np.isfinite(values))[-1]})
        fail(f"non-finite values in columns {bad[:8]}")
    one_at_a_time, _ = extract(args.family, trajectory=trajectories, batch_size=1)
    np.testing.assert_allclose(one_at_a_time, values, rtol=1e-5, atol=1e-6)
    print(
        f"extract_summary_from_numpy: {args.family} {values.shape} from trajectories {trajectories.shape} ok "
        f"({D} columns, per_timestep={columns.per_timestep}; spinlock.operators not installed)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
