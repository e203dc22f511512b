"""Stochastic forcing of rollouts: one random stream per (operator, realization).

**Streams.** Row ``i = o·M + m`` of a batch (operator ``o`` of the batch, realization ``m``) draws from its own
``torch.Generator`` seeded with ``derive_seed(root_seed, operator_indices[o], f"noise/{m}")``, where
``operator_indices`` are *global* operator indices. A row's noise therefore never depends on batch size, batch
position, device memory or sharding. Draws are always float32 (whatever the state's precision) and fill each
row in its memory order: NCHW order for the default layout, HWC order for ``channels_last``. The memory format
is thus part of the compute plan, like the device: the same seed gives the same noise for the same (shape,
device type, memory format). (Drawing in one fixed order and transposing costs more than the draw itself on
CPU, and mixed-layout element-wise passes are 5–8× slower than same-layout ones.)

**Types** (σ = the row's scale at this step, ε = unit-variance white noise):

- ``gaussian``: ``x ← x + σ ε``, ε ~ N(0, 1).
- ``laplace``: ``x ← x + σ ε``, ε a unit-variance Laplace variate (``sign · Exp(1) / √2``; excess kurtosis 3).
- ``multiplicative``: ``x ← x · (1 + σ ε)``, ε ~ N(0, 1): the perturbation's standard deviation is σ·|x|.

σ is in the units of the field (for ``multiplicative``: a relative amplitude).

**Spatial correlation.** With ``correlation_length`` ℓ > 0 (grid cells), white noise is filtered on the
periodic grid in Fourier space with ``G(k) = exp(−π² ℓ² |k|²)`` (k in cycles per cell), i.e. convolved with a
Gaussian kernel of standard deviation ℓ/√2. The filtered field's autocorrelation is then
``ρ(r) = exp(−r² / (2ℓ²))``: ℓ is the lag at which the correlation has fallen to e^{-1/2} ≈ 0.61 (the
e-folding lag, ρ = 1/e, is √2·ℓ). This holds for 1 ≲ ℓ ≪ grid size; below about one cell the grid resolves no
correlation and the noise is practically white. The filter is normalised analytically, by
``sqrt(mean_k G(k)²)`` (Parseval: the variance of filtered unit white noise is ``mean_k G(k)²``), so the
marginal variance is exactly σ² for every sample, never estimated from the batch. Filtering mixes many
variates, so correlated Laplace noise is closer to Gaussian than white Laplace noise (its kurtosis falls
toward 3 as ℓ grows).

**Schedules** (:func:`schedule_factor`) receive the step ``t`` of the update (``t = 1 … T−1``, the index of
the state being produced; see :mod:`spinlock.core.rollout.engine`):

- ``constant``: σ_t = σ.
- ``annealing``: σ_t = σ · (1 − (1 − final_fraction) · t / (T − 1)): linear decay reaching
  ``σ · final_fraction`` at the last update.
- ``periodic``: σ_t = σ · (1 + ½ sin(2π t / period)): oscillates between σ/2 and 3σ/2.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from spinlock.core.config.run import NoiseConfig
from spinlock.core.seeding import derive_seed, torch_generator

__all__ = ["NOISE_TYPES", "SCHEDULES", "NoiseStreams", "correlation_filter", "schedule_factor"]

NOISE_TYPES: tuple[str, ...] = ("gaussian", "laplace", "multiplicative")
SCHEDULES: tuple[str, ...] = ("constant", "annealing", "periodic")

_INV_SQRT2 = 1.0 / math.sqrt(2.0)


def schedule_factor(
    step: int, *, steps: int, schedule: str = "constant", period: int = 16, final_fraction: float = 0.1
) -> float:
    """σ_t / σ for the update that produces state ``step`` of a ``steps``-state rollout (formulas above)."""
    if schedule == "constant":
        return 1.0
    if schedule == "annealing":
        if steps <= 1:
            return 1.0
        return 1.0 - (1.0 - final_fraction) * step / (steps - 1)
    if schedule == "periodic":
        if period < 1:
            raise ValueError(f"periodic noise schedule needs period >= 1, got {period!r}")
        return 1.0 + 0.5 * math.sin(2.0 * math.pi * step / period)
    raise ValueError(f"unknown noise schedule {schedule!r}; expected one of {', '.join(SCHEDULES)}")


def correlation_filter(
    length: float, height: int, width: int, *, device: str | torch.device = "cpu"
) -> torch.Tensor:
    """The normalised transfer function ``G(k) / sqrt(mean G²)`` on the ``rfft2`` half-grid, float32.

    ``(height, width // 2 + 1)``; applying it to unit white noise gives unit marginal variance exactly.
    """
    if not length > 0:
        raise ValueError(f"correlation_length must be > 0 to build a filter, got {length!r}")
    ky = torch.fft.fftfreq(height, dtype=torch.float64)
    kx = torch.fft.fftfreq(width, dtype=torch.float64)
    k2 = ky[:, None] ** 2 + kx[None, :] ** 2
    full = torch.exp(-(math.pi**2) * length**2 * k2)
    full = full / torch.sqrt(torch.mean(full**2))
    return full[:, : width // 2 + 1].to(device=device, dtype=torch.float32).contiguous()


class NoiseStreams:
    """Per-(operator, realization) noise for one rollout batch.

    :param config: type, correlation length and schedule (``config.scale`` is the default per-operator scale).
    :param root_seed: the run's seed.
    :param operator_indices: global index of each operator of the batch, in batch order (length O).
    :param realizations: M; row ``o·M + m`` is realization ``m`` of operator ``o``.
    :param shape: ``(C, H, W)`` of one state.
    :param steps: T, the number of states of the rollout (for the annealing schedule).
    :param scales: per-operator σ (length O); defaults to ``config.scale`` for every operator.
    :param device: where generators and buffers live.
    :param memory_format: layout of the noise buffer: that of the states it perturbs (``torch.contiguous_format``
        or ``torch.channels_last``).
    """

    def __init__(
        self,
        config: NoiseConfig,
        *,
        root_seed: int,
        operator_indices: Sequence[int],
        realizations: int,
        shape: Sequence[int],
        steps: int,
        scales: Sequence[float] | None = None,
        device: str | torch.device = "cpu",
        memory_format: torch.memory_format = torch.contiguous_format,
    ) -> None:
        if config.type not in NOISE_TYPES:
            raise ValueError(f"unknown noise type {config.type!r}; expected one of {', '.join(NOISE_TYPES)}")
        if config.schedule not in SCHEDULES:
            raise ValueError(
                f"unknown noise schedule {config.schedule!r}; expected one of {', '.join(SCHEDULES)}"
            )
        if realizations < 1:
            raise ValueError(f"realizations must be >= 1, got {realizations!r}")
        if len(shape) != 3 or min(shape) < 1:
            raise ValueError(f"shape must be (C, H, W) with positive sizes, got {tuple(shape)!r}")
        indices = [int(i) for i in operator_indices]
        if not indices:
            raise ValueError("operator_indices is empty")
        per_op = [float(config.scale)] * len(indices) if scales is None else [float(s) for s in scales]
        if len(per_op) != len(indices):
            raise ValueError(f"scales has {len(per_op)} entries for {len(indices)} operators")
        for o, s in enumerate(per_op):
            if not (math.isfinite(s) and s >= 0):
                raise ValueError(f"operator {o}: noise scale must be finite and >= 0, got {s!r}")
        self.config = config
        self.steps = int(steps)
        self.realizations = int(realizations)
        self.operator_indices = tuple(indices)
        self.device = torch.device(device)
        self.shape = (int(shape[0]), int(shape[1]), int(shape[2]))
        #: σ of each row (operator scale repeated over its realizations), on the host.
        self.row_scales = [s for s in per_op for _ in range(realizations)]
        self.generators = [
            torch_generator(derive_seed(root_seed, op, f"noise/{m}"), self.device)
            for op in indices
            for m in range(realizations)
        ]
        rows = len(self.generators)
        if memory_format not in (torch.contiguous_format, torch.channels_last):
            raise ValueError(f"memory_format must be contiguous_format or channels_last, got {memory_format}")
        self.buffer = torch.empty(
            (rows, *self.shape), dtype=torch.float32, device=self.device, memory_format=memory_format
        )
        # the same memory seen in its storage order: each row is contiguous, the draw fills it sequentially
        self._rows = (
            self.buffer if memory_format == torch.contiguous_format else self.buffer.permute(0, 2, 3, 1)
        )
        self._scratch: torch.Tensor | None = None
        self._filter: torch.Tensor | None = None
        self._spectrum: torch.Tensor | None = None
        if config.type == "laplace":
            self._scratch = torch.empty_like(self.buffer)
        if config.correlation_length > 0:
            height, width = self.shape[1], self.shape[2]
            self._filter = correlation_filter(config.correlation_length, height, width, device=self.device)
            self._spectrum = torch.empty(
                (rows, self.shape[0], height, width // 2 + 1), dtype=torch.complex64, device=self.device
            )

    @property
    def rows(self) -> int:
        return len(self.generators)

    @property
    def active(self) -> bool:
        """False when every scale is zero: the rollout may skip noise altogether."""
        return any(s > 0 for s in self.row_scales)

    def factor(self, step: int) -> float:
        """The schedule's σ_t / σ at ``step``."""
        c = self.config
        return schedule_factor(
            step, steps=self.steps, schedule=c.schedule, period=c.period, final_fraction=c.final_fraction
        )

    def draw(self, step: int) -> torch.Tensor:
        """Fill and return the reused ``(O·M, C, H, W)`` float32 buffer with σ_t·ε for update ``step``."""
        factor = self.factor(step)
        buffer, rows = self.buffer, self._rows
        if self.config.type == "laplace":
            self._draw_laplace(factor)
        else:
            for i, generator in enumerate(self.generators):
                rows[i].normal_(0.0, self.row_scales[i] * factor, generator=generator)
        if self._filter is not None:
            assert self._spectrum is not None
            torch.fft.rfft2(buffer, out=self._spectrum)
            self._spectrum.mul_(self._filter)
            torch.fft.irfft2(self._spectrum, s=self.shape[1:], out=buffer)
        return buffer

    def _draw_laplace(self, factor: float) -> None:
        # One uniform U ∈ [0, 1) per element: the sign comes from U ≥ ½, the magnitude from the remaining bits,
        # W = frac(2U) ∈ [0, 1), E = −log(1 − W) ~ Exp(1) (always finite). Unit variance needs E / √2.
        buffer, sign, rows = self.buffer, self._scratch, self._rows
        assert sign is not None
        for i, generator in enumerate(self.generators):
            rows[i].uniform_(generator=generator)
        scale = torch.tensor(
            [-s * factor * _INV_SQRT2 for s in self.row_scales], dtype=torch.float32, device=self.device
        ).view(-1, 1, 1, 1)
        torch.sub(buffer, 0.5, out=sign)
        sign.sign_().mul_(scale)  # −σ/√2 · sign(U − ½); the minus cancels log(1 − W) ≤ 0
        buffer.mul_(2.0).frac_().neg_().log1p_().mul_(sign)

    def apply_(self, state: torch.Tensor, step: int) -> torch.Tensor:
        """Perturb ``state`` (``(O·M, C, H, W)``, any float dtype; best in the buffer's layout) in place."""
        if state.shape != self.buffer.shape:
            raise ValueError(
                f"state has shape {tuple(state.shape)}, noise streams {tuple(self.buffer.shape)}"
            )
        noise = self.draw(step)
        if self.config.type == "multiplicative":
            state.addcmul_(noise, state)  # x + σε·x = x·(1 + σε)
        else:
            state.add_(noise)
        return state
