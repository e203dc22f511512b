"""Update policies as per-sample coefficients: every policy is ``x_t = a·x_{t-1} + b·f(x_{t-1})``.

=================  =====  =======  ================================================
policy             a      b        update
=================  =====  =======  ================================================
``autoregressive``  0      1        ``x_t = f(x_{t-1})``
``residual``        1      dt       ``x_t = x_{t-1} + dt·f(x_{t-1})``  (dt > 0)
``convex``          α      1 − α    ``x_t = α·x_{t-1} + (1−α)·f(x_{t-1})`` (α ∈ [0, 1])
=================  =====  =======  ================================================

α is the weight kept on the previous state. Because the coefficients are per sample, operators with different
policies share one batched update. :func:`apply_update` writes the new state into a reused buffer in a single
element-wise pass where the batch allows it (``lerp`` when every row has ``a + b = 1``, ``addcmul`` when every
row has ``a = 1``, a copy when every row is autoregressive) and in two passes otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import attrs
import torch

__all__ = ["POLICIES", "UpdateCoefficients", "apply_update", "coefficients"]

#: The policy names :func:`coefficients` accepts.
POLICIES: tuple[str, ...] = ("autoregressive", "residual", "convex")


@attrs.frozen(eq=False)
class UpdateCoefficients:
    """Per-sample coefficients of ``x_t = a·x_{t-1} + b·f(x_{t-1})``.

    :param a: ``(batch,)`` weight on the previous state.
    :param b: ``(batch,)`` weight on the operator output.
    :param kind: which fused kernel applies to the whole batch, decided from host-side values (no device
        sync): ``copy`` (all autoregressive), ``lerp`` (all rows have ``a + b = 1``), ``residual`` (all rows
        have ``a = 1``) or ``general``.
    """

    a: torch.Tensor
    b: torch.Tensor
    kind: str = "general"

    @property
    def batch(self) -> int:
        return int(self.a.shape[0])

    def repeat(self, realizations: int) -> UpdateCoefficients:
        """Coefficients for ``realizations`` consecutive rows per sample (operator-major row order)."""
        return UpdateCoefficients(
            self.a.repeat_interleave(realizations), self.b.repeat_interleave(realizations), self.kind
        )


def _kind(a: Sequence[float], b: Sequence[float]) -> str:
    if all(x == 0.0 for x in a) and all(y == 1.0 for y in b):
        return "copy"
    if all(x + y == 1.0 for x, y in zip(a, b, strict=True)):
        return "lerp"
    if all(x == 1.0 for x in a):
        return "residual"
    return "general"


def coefficients(
    policies: Sequence[str],
    dt: Sequence[float],
    alpha: Sequence[float],
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> UpdateCoefficients:
    """The coefficients of each sample's policy.

    ``dt`` is read only for ``residual`` samples (must be finite and > 0), ``alpha`` only for ``convex``
    samples (must lie in [0, 1]); all three sequences have one entry per sample.

    :raises ValueError: unknown policy, mismatched lengths or an out-of-range ``dt`` / ``alpha`` (the
        message names the sample and the value).
    """
    n = len(policies)
    if len(dt) != n or len(alpha) != n:
        raise ValueError(
            f"policies, dt and alpha must have one entry per sample: got {n}, {len(dt)} and {len(alpha)}"
        )
    a: list[float] = []
    b: list[float] = []
    for i, (policy, step, weight) in enumerate(zip(policies, dt, alpha, strict=True)):
        if policy == "autoregressive":
            a.append(0.0)
            b.append(1.0)
        elif policy == "residual":
            if not (math.isfinite(step) and step > 0):
                raise ValueError(f"sample {i}: residual policy needs a finite dt > 0, got dt={step!r}")
            a.append(1.0)
            b.append(float(step))
        elif policy == "convex":
            if not 0.0 <= weight <= 1.0:
                raise ValueError(f"sample {i}: convex policy needs alpha in [0, 1], got alpha={weight!r}")
            a.append(float(weight))
            b.append(1.0 - float(weight))
        else:
            raise ValueError(
                f"sample {i}: unknown update policy {policy!r}; expected one of {', '.join(POLICIES)}"
            )
    return UpdateCoefficients(
        torch.tensor(a, dtype=dtype, device=device), torch.tensor(b, dtype=dtype, device=device), _kind(a, b)
    )


def apply_update(
    previous: torch.Tensor, update: torch.Tensor, coeffs: UpdateCoefficients, *, out: torch.Tensor
) -> torch.Tensor:
    """Write ``a·previous + b·update`` into ``out`` (a reused buffer, distinct from both inputs).

    ``previous``, ``update`` and ``out`` have shape ``(batch, ...)``; ``coeffs`` holds one entry per row.
    Returns ``out``.
    """
    if coeffs.batch != previous.shape[0]:
        raise ValueError(f"coefficients for {coeffs.batch} rows, state has {previous.shape[0]}")
    shape = (-1,) + (1,) * (previous.dim() - 1)
    a = coeffs.a.view(shape)
    b = coeffs.b.view(shape)
    if coeffs.kind == "copy":
        out.copy_(update)
    elif coeffs.kind == "lerp":
        # update + a·(previous − update) = a·previous + (1 − a)·update
        torch.lerp(update, previous, a, out=out)
    elif coeffs.kind == "residual":
        torch.addcmul(previous, b, update, out=out)
    else:
        torch.mul(update, b, out=out)
        out.addcmul_(a, previous)
    return out
