"""Contract check for initial-condition generators (registered with :func:`contract_check`).

``check_initial_condition(spec)`` builds the generator from its config's defaults and checks, for C = 1 and
C = 3 on a square and a non-square grid: shape, float32, finiteness, a non-constant field, determinism (same
seeds → bit-identical), seed sensitivity, batch independence (a sample generated alone equals, bit for bit,
the same sample at another position in a batch of 4) and, for C = 3, that every channel varies.

Importing this module does not import torch; the check imports it when it runs.
"""

from __future__ import annotations

from typing import Any

from spinlock.core.registry import ComponentKind, ComponentSpec
from spinlock.core.testing.contracts import ContractViolation, contract_check

#: grids the check runs on: (height, width)
GRIDS: tuple[tuple[int, int], ...] = ((32, 32), (24, 40))
#: channel counts the check runs with
CHANNELS: tuple[int, ...] = (1, 3)
#: seeds of the batch of 4 (the lone sample is ``SEEDS[2]``)
SEEDS: tuple[int, ...] = (11, 2**40 + 7, 12345, 987654321)


def check_initial_condition(spec: ComponentSpec) -> None:
    """Run the initial-condition contract on ``spec``; raises :class:`ContractViolation`."""
    import torch

    try:
        generator = spec.build()
    except Exception as exc:
        raise ContractViolation(spec, f"cannot be built from its default config: {exc}") from exc

    def run(seeds: list[int], channels: int, height: int, width: int) -> Any:
        try:
            return generator(seeds, channels=channels, height=height, width=width, device="cpu")
        except Exception as exc:
            raise ContractViolation(
                spec, f"call failed for C={channels}, {height}×{width}, seeds={seeds}: {exc!r}"
            ) from exc

    for height, width in GRIDS:
        for channels in CHANNELS:
            where = f"C={channels}, {height}×{width}"
            batch = run(list(SEEDS), channels, height, width)
            if not isinstance(batch, torch.Tensor):
                raise ContractViolation(
                    spec, f"returned {type(batch).__name__}, not a torch.Tensor ({where})"
                )
            expected = (len(SEEDS), channels, height, width)
            if tuple(batch.shape) != expected:
                raise ContractViolation(spec, f"shape {tuple(batch.shape)}, expected {expected} ({where})")
            if batch.dtype != torch.float32:
                raise ContractViolation(spec, f"dtype {batch.dtype}, expected torch.float32 ({where})")
            if not bool(torch.isfinite(batch).all()):
                raise ContractViolation(spec, f"non-finite values ({where})")
            for i in range(len(SEEDS)):
                if float(batch[i].double().std()) == 0.0:
                    raise ContractViolation(spec, f"sample {i} is constant ({where})")
            again = run(list(SEEDS), channels, height, width)
            if not torch.equal(batch, again):
                raise ContractViolation(
                    spec, f"not deterministic: same seeds gave different fields ({where})"
                )
            if torch.equal(batch[0], batch[1]):
                raise ContractViolation(spec, f"different seeds gave identical fields ({where})")
            alone = run([SEEDS[2]], channels, height, width)
            if not torch.equal(alone[0], batch[2]):
                raise ContractViolation(
                    spec, f"not batch independent: sample alone differs from it in a batch of 4 ({where})"
                )
            moved = run([SEEDS[3], SEEDS[2]], channels, height, width)
            if not torch.equal(moved[1], batch[2]):
                raise ContractViolation(
                    spec, f"not batch independent: a sample depends on its batch position ({where})"
                )
            if channels > 1:
                stds = batch.double().std(dim=(-2, -1))  # (B, C)
                if bool((stds == 0).any()):
                    b, c = (int(v) for v in (stds == 0).nonzero()[0])
                    raise ContractViolation(spec, f"channel {c} of sample {b} is constant ({where})")
                for c in range(1, channels):
                    if torch.equal(batch[:, c], batch[:, 0]):
                        raise ContractViolation(spec, f"channel {c} is a copy of channel 0 ({where})")


contract_check(ComponentKind.INITIAL_CONDITION)(check_initial_condition)

__all__ = ["check_initial_condition"]
