"""The operator-agnostic rollout engine: T states × M realizations of a batch of O operators.

**State indexing.** A rollout of ``steps = T`` has T states ``x_0 … x_{T-1}``: ``x_0`` is the initial
condition and T − 1 updates follow (T = 1 keeps only the IC). Update ``t`` (``t = 1 … T−1``) produces ``x_t``::

    x_t = a·x_{t-1} + b·f(x_{t-1})          (policy, :mod:`spinlock.core.rollout.policies`)
    x_t ← noise(x_t, t)                     (:mod:`spinlock.core.rollout.noise`; the schedule receives t)

With ``stride = s`` the stored trajectory keeps ``x_0, x_s, x_{2s}, …`` (every ``t < T`` with ``t % s == 0``):
``T' = ceil(T / s)`` states, as in the dataset layout (DESIGN.md §7). ``final`` is always ``x_{T-1}``, stored
or not.

**Rows.** ``step_fn`` receives and returns ``(O·M, C, H, W)`` tensors. Operator ``o`` (position in the batch)
owns rows ``o·M … o·M + M − 1``; row ``o·M + m`` is its realization ``m``. Every realization starts from the same
``u0[o]`` and differs by its noise stream.

**Divergence.** After every update (and on the IC) each row is checked: non-finite, or ``max |x| >
divergence_threshold``. The first state index at which any realization of an operator fails is its
``diverged_step`` (0 if the IC itself fails; −1 if never) and its status becomes ``diverged``. From then on all
of its rows are frozen at the last state in which they were all finite (``x_{diverged_step − 1}``; zeros when
the IC failed): they receive no further updates and every later stored state, and ``final``, repeats that
state. Nothing returned contains NaN or ±inf; consumers tell such operators apart by ``status`` (features of
a ``diverged`` operator describe its trajectory up to the divergence, then a constant state).

**Determinism.** Results for an operator never depend on which other operators share the batch or on its
position in it, provided ``step_fn`` is *row-independent*: row ``i`` of its output depends only on row ``i`` of
its input (and on operator ``i // M``'s parameters). ``step_fn`` must also leave its input unmodified. The
engine's own operations are element-wise or per-row (noise streams are per (global operator index,
realization); the optional correlation FFT is per row), so for a given compute plan (device, dtype, memory format) an operator's
trajectory is bit-identical alone or in any batch, and across processes — as far as ``step_fn``'s kernels are
themselves batch-independent.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import torch

from spinlock.core.config.run import NoiseConfig, RolloutConfig
from spinlock.core.rollout.noise import NOISE_TYPES, SCHEDULES, NoiseStreams
from spinlock.core.rollout.policies import apply_update, coefficients

__all__ = ["STATUS_DIVERGED", "STATUS_OK", "RolloutResult", "RolloutSpec", "StepFn", "rollout"]

StepFn = Callable[[torch.Tensor], torch.Tensor]

STATUS_OK = "ok"
STATUS_DIVERGED = "diverged"


def _positive_int(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"'{attribute.name}' must be an integer >= 1: {value!r}")


def _strings(value: Sequence[str]) -> tuple[str, ...]:
    if isinstance(value, str):
        raise ValueError(
            f"'policy' must be a sequence with one policy per operator, not the string {value!r}"
        )
    return tuple(str(v) for v in value)


def _floats(value: Sequence[float]) -> tuple[float, ...]:
    return tuple(float(v) for v in value)


@attrs.frozen
class RolloutSpec:
    """What to roll out for one batch of O operators.

    :param steps: T, the number of states including the IC (T − 1 updates).
    :param realizations: M, noise realizations per operator.
    :param policy: per-operator update policy (length O).
    :param dt: per-operator residual step (read for ``residual`` operators).
    :param alpha: per-operator convex weight on the previous state (read for ``convex`` operators).
    :param noise_scale: per-operator noise σ (overrides ``noise.scale``).
    :param noise: noise type, correlation length and schedule.
    :param stride: keep every ``stride``-th state (T' = ceil(T / stride)).
    :param divergence_threshold: a state with ``max |x|`` above this (or non-finite) has diverged.
    """

    steps: int = attrs.field(validator=_positive_int)
    realizations: int = attrs.field(validator=_positive_int)
    policy: tuple[str, ...] = attrs.field(converter=_strings)
    dt: tuple[float, ...] = attrs.field(converter=_floats)
    alpha: tuple[float, ...] = attrs.field(converter=_floats)
    noise_scale: tuple[float, ...] = attrs.field(converter=_floats)
    noise: NoiseConfig = attrs.field(factory=NoiseConfig)
    stride: int = attrs.field(default=1, validator=_positive_int)
    divergence_threshold: float = attrs.field(default=1.0e4, converter=float)

    def __attrs_post_init__(self) -> None:
        n = len(self.policy)
        if n < 1:
            raise ValueError("'policy' must name one policy per operator; got none")
        for name in ("dt", "alpha", "noise_scale"):
            if len(getattr(self, name)) != n:
                raise ValueError(
                    f"'{name}' has {len(getattr(self, name))} entries, 'policy' has {n} (one per operator)"
                )
        if not self.divergence_threshold > 0:
            raise ValueError(f"'divergence_threshold' must be > 0: {self.divergence_threshold!r}")
        for o, s in enumerate(self.noise_scale):
            if not (math.isfinite(s) and s >= 0):
                raise ValueError(f"'noise_scale' of operator {o} must be finite and >= 0: {s!r}")
        if self.noise.type not in NOISE_TYPES:
            raise ValueError(
                f"unknown noise type {self.noise.type!r}; expected one of {', '.join(NOISE_TYPES)}"
            )
        if self.noise.schedule not in SCHEDULES:
            raise ValueError(
                f"unknown noise schedule {self.noise.schedule!r}; expected one of {', '.join(SCHEDULES)}"
            )
        coefficients(self.policy, self.dt, self.alpha)  # validates policy names and ranges

    @classmethod
    def from_config(
        cls,
        config: RolloutConfig,
        n_operators: int,
        *,
        stride: int = 1,
        policy: Sequence[str] | None = None,
        dt: Sequence[float] | None = None,
        alpha: Sequence[float] | None = None,
        noise_scale: Sequence[float] | None = None,
    ) -> RolloutSpec:
        """A spec from the run's ``rollout`` section; per-operator sequences (e.g. from θ) override it."""
        if n_operators < 1:
            raise ValueError(f"n_operators must be >= 1, got {n_operators!r}")
        return cls(
            steps=config.steps,
            realizations=config.realizations,
            policy=policy if policy is not None else [config.policy] * n_operators,
            dt=dt if dt is not None else [config.dt] * n_operators,
            alpha=alpha if alpha is not None else [config.alpha] * n_operators,
            noise_scale=noise_scale if noise_scale is not None else [config.noise.scale] * n_operators,
            noise=config.noise,
            stride=stride,
            divergence_threshold=config.divergence_threshold,
        )

    @property
    def n_operators(self) -> int:
        return len(self.policy)

    @property
    def stored_steps(self) -> tuple[int, ...]:
        """The state indices kept in the trajectory: ``0, stride, 2·stride, … < steps``."""
        return tuple(range(0, self.steps, self.stride))


@attrs.frozen(eq=False)
class RolloutResult:
    """The outcome of :func:`rollout` for a batch of O operators.

    :param trajectories: ``(O, M, T', C, H, W)`` states ``spec.stored_steps``, or None when not stored. With
        ``channels_last`` it is a permuted view of ``(O, M, T', H, W, C)`` memory (call ``.contiguous()`` for
        NCHW memory).
    :param final: ``(O, M, C, H, W)``, the state ``x_{T-1}`` (frozen state for a diverged operator).
    :param status: per operator, ``ok`` or ``diverged``.
    :param diverged_step: per operator, the first state index at which a realization failed; −1 if none.
    :param stored_steps: the state index of each of the T' stored states.
    """

    trajectories: torch.Tensor | None
    final: torch.Tensor
    status: tuple[str, ...]
    diverged_step: tuple[int, ...]
    stored_steps: tuple[int, ...]

    @property
    def diverged(self) -> tuple[bool, ...]:
        return tuple(s == STATUS_DIVERGED for s in self.status)


def _row_flat(x: torch.Tensor) -> torch.Tensor:
    """``(rows, C·H·W)`` view of a contiguous or channels-last state, without copying."""
    if x.is_contiguous():
        return x.view(x.shape[0], -1)
    return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)


def _bad_rows(x: torch.Tensor, threshold: float) -> torch.Tensor:
    """``(rows,)`` bool: non-finite or ``max |x| > threshold`` (NaN propagates through the reductions)."""
    flat = _row_flat(x)
    # two reductions beat torch.aminmax (one fused but ~10x slower on CPU); both propagate NaN
    bound = torch.maximum(flat.amax(dim=1), flat.amin(dim=1).neg())
    return ~(bound <= threshold)


def rollout(
    step_fn: StepFn,
    u0: torch.Tensor,
    spec: RolloutSpec,
    *,
    operator_indices: Sequence[int],
    root_seed: int,
    store_trajectory: bool = False,
    device: str | torch.device | None = None,
    dtype: torch.dtype = torch.float32,
    channels_last: bool = False,
) -> RolloutResult:
    """Roll out O operators for ``spec.steps`` states × ``spec.realizations`` realizations.

    :param step_fn: ``(O·M, C, H, W) → (O·M, C, H, W)``, the batch of operators applied to their realizations
        (operator ``o`` at rows ``o·M … o·M + M − 1``). It must be row-independent and must not modify its
        input (see the module docstring); it is called T − 1 times under ``torch.inference_mode``.
    :param u0: ``(O, C, H, W)`` initial conditions, shared by each operator's realizations.
    :param spec: steps, realizations, per-operator policies and noise, stride, divergence threshold.
    :param operator_indices: the global index of each operator (length O): seeds its noise streams.
    :param root_seed: the run's seed.
    :param store_trajectory: keep the ``ceil(T / stride)`` states ``0, stride, …`` on ``device``.
    :param device: where the rollout runs (default: ``u0``'s device).
    :param dtype: state precision (noise is always drawn in float32).
    :param channels_last: keep states, noise and stored trajectories in ``torch.channels_last`` memory format
        (faster convolutions; noise is drawn in memory order, so its values differ from the NCHW plan's).
    :raises ValueError: mismatched shapes, an operator count that differs from the spec, or a step_fn output
        of the wrong shape.
    """
    if u0.dim() != 4:
        raise ValueError(f"u0 must have shape (O, C, H, W), got {tuple(u0.shape)}")
    n_ops, channels, height, width = (int(s) for s in u0.shape)
    indices = [int(i) for i in operator_indices]
    if n_ops != spec.n_operators:
        raise ValueError(f"u0 holds {n_ops} operators but the spec describes {spec.n_operators}")
    if len(indices) != n_ops:
        raise ValueError(f"operator_indices has {len(indices)} entries for {n_ops} operators")
    if len(set(indices)) != len(indices):
        raise ValueError("operator_indices contains duplicates: each operator needs its own noise streams")
    target = torch.device(device) if device is not None else u0.device
    m = spec.realizations
    rows = n_ops * m
    shape = (rows, channels, height, width)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    threshold = spec.divergence_threshold

    with torch.inference_mode():
        previous = torch.empty(shape, dtype=dtype, device=target, memory_format=fmt)
        following = torch.empty_like(previous)
        previous.copy_(u0.to(device=target, dtype=dtype).repeat_interleave(m, dim=0))
        coeffs = coefficients(spec.policy, spec.dt, spec.alpha, device=target, dtype=dtype).repeat(m)
        noise = NoiseStreams(
            spec.noise,
            root_seed=root_seed,
            operator_indices=indices,
            realizations=m,
            shape=(channels, height, width),
            steps=spec.steps,
            scales=spec.noise_scale,
            device=target,
            memory_format=fmt,
        )
        noisy = noise.active
        stored = spec.stored_steps
        trajectories = None
        if store_trajectory:
            # stored in the states' layout (a plain copy per stored state); channels-last: a permuted view
            if channels_last:
                trajectories = torch.empty(
                    (n_ops, m, len(stored), height, width, channels), dtype=dtype, device=target
                ).permute(0, 1, 2, 5, 3, 4)
            else:
                trajectories = torch.empty(
                    (n_ops, m, len(stored), channels, height, width), dtype=dtype, device=target
                )

        diverged_step = [-1] * n_ops
        frozen: list[int] = []  # operators whose rows no longer update

        def freeze_new(state: torch.Tensor, last_good: torch.Tensor | None, step: int) -> None:
            bad_ops = _bad_rows(state, threshold).view(n_ops, m).any(dim=1)
            if frozen:
                bad_ops[frozen] = False
            if not bool(bad_ops.any()):
                return
            for o in torch.nonzero(bad_ops).flatten().tolist():
                diverged_step[o] = step
                frozen.append(o)
                block = state[o * m : (o + 1) * m]
                if last_good is None:
                    block.zero_()
                else:
                    block.copy_(last_good[o * m : (o + 1) * m])

        def store(state: torch.Tensor, step: int) -> None:
            if trajectories is not None and step % spec.stride == 0:
                trajectories[:, :, step // spec.stride].copy_(state.view(n_ops, m, channels, height, width))

        freeze_new(previous, None, 0)
        store(previous, 0)
        for step in range(1, spec.steps):
            update = step_fn(previous)
            if update.shape != previous.shape:
                raise ValueError(
                    f"step_fn returned shape {tuple(update.shape)}, expected {tuple(previous.shape)}"
                )
            apply_update(previous, update, coeffs, out=following)
            del update
            if noisy:
                noise.apply_(following, step)
            for o in frozen:
                following[o * m : (o + 1) * m].copy_(previous[o * m : (o + 1) * m])
            freeze_new(following, previous, step)
            store(following, step)
            previous, following = following, previous

        final = previous.view(n_ops, m, channels, height, width).contiguous()
    status = tuple(STATUS_DIVERGED if s >= 0 else STATUS_OK for s in diverged_step)
    return RolloutResult(
        trajectories=trajectories,
        final=final,
        status=status,
        diverged_step=tuple(diverged_step),
        stored_steps=stored,
    )
