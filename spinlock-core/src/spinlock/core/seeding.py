"""Seeds for every random draw, derived from (root seed, global operator index, stream name).

No draw may depend on batch size, batch position, device memory or sharding, so every consumer asks for a
seed with :func:`derive_seed` and builds its own generator from it. Derivation is a keyed BLAKE2b hash:
stable across processes, platforms and Python versions (unlike ``hash()``), and independent across streams.

Stream names in use: ``"operator"`` (weights), ``"ic"`` (initial condition), ``"noise/<realization>"``
(rollout noise of one realization), ``"ic-mixture"`` (which IC variant an operator gets).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

_MASK63 = (1 << 63) - 1


def derive_seed(root_seed: int, index: int, stream: str) -> int:
    """A 63-bit seed for one random stream of one operator.

    :param root_seed: the run's ``seed``.
    :param index: the global operator index (position in the whole dataset, never in a batch).
    :param stream: what the draws are for, e.g. ``"ic"`` or ``"noise/2"``.
    """
    if root_seed < 0 or index < 0:
        raise ValueError(f"root_seed and index must be >= 0, got {root_seed} and {index}")
    key = f"{root_seed}:{index}:{stream}".encode()
    digest = hashlib.blake2b(key, digest_size=8, person=b"spinlock-seed").digest()
    return int.from_bytes(digest, "little") & _MASK63


def derive_seeds(root_seed: int, indices: Iterable[int], stream: str) -> list[int]:
    """:func:`derive_seed` for each index, in order."""
    return [derive_seed(root_seed, int(i), stream) for i in indices]


def torch_generator(seed: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A fresh ``torch.Generator`` on ``device`` seeded with ``seed``."""
    import torch

    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    return generator
