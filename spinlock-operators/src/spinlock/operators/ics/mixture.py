"""Which initial-condition variant each operator gets, and generating a batch of a mixture.

A run config's ``initial_conditions`` maps a *variant name* to an :class:`InitialConditionRef` (registered
``kind``, its ``params`` and a relative ``weight``)::

    initial_conditions:
      grf_short: {kind: gaussian_random_field, params: {length_scale: 0.05}, weight: 2}
      grf_long:  {kind: gaussian_random_field, params: {length_scale: 0.3}}
      fronts:    {kind: reaction_front}

Operator ``i`` gets the variant whose weight interval (in mapping order) contains ``u_i``, the i-th point of
a 1-D Owen-scrambled Sobol sequence. The sequence is scrambled with ``derive_seed(root_seed, 0,
"ic-mixture")`` (not the root seed itself, so the variant is not tied to the first sampled operator
parameter, which comes from a sequence scrambled with the root seed). The first 2^m points put exactly one
point in each interval [j/2^m, (j+1)/2^m), so over the first 2^m operators a variant's count is within ±1
of ``2^m·weight/Σweight`` when the cumulative weights are multiples of 2^-m (e.g. weights 1:2:5), and
always strictly within ±2 (each weight interval cuts at most two elementary intervals). The choice depends
only on the global index.

The stored type of an operator is the variant name; its registered kind is recorded too. With no
``initial_conditions`` in the config, the default mixture is all 28 registered types of this package, each
under its own name, with default params and equal weight (:func:`default_mixture`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from spinlock.core.config.components import InitialConditionRef
from spinlock.core.registry import ComponentKind, ComponentSpec, UnknownComponentError
from spinlock.core.sampling.configs import SobolConfig
from spinlock.core.sampling.sobol import SobolSampler
from spinlock.core.seeding import derive_seed, derive_seeds

#: what :func:`generate_initial_conditions` accepts to find a kind's spec: a registry (``.get(name)``
#: raising on unknown names), a mapping name → spec, or a function name → spec.
SpecsLookup = Any

MIXTURE_STREAM = "ic-mixture"
IC_STREAM = "ic"


def default_mixture() -> dict[str, InitialConditionRef]:
    """All 28 types of spinlock-operators, each under its own name, default params, equal weight."""
    from spinlock.operators.plugin import INITIAL_CONDITIONS

    return {
        name: InitialConditionRef(kind=name, params=config_cls(), weight=1.0)
        for name, config_cls, *_ in INITIAL_CONDITIONS
    }


def mixture_points(indices: Sequence[int], root_seed: int) -> np.ndarray:
    """The Sobol coordinate ``u_i ∈ [0, 1)`` of each global index (contiguous runs sampled at once)."""
    idx = np.asarray([int(i) for i in indices], dtype=np.int64)
    if idx.size and idx.min() < 0:
        raise ValueError(f"operator indices must be >= 0, got {int(idx.min())}")
    out = np.empty(idx.size, dtype=np.float64)
    if not idx.size:
        return out
    sampler = SobolSampler(SobolConfig())
    seed = derive_seed(root_seed, 0, MIXTURE_STREAM)
    unique = np.unique(idx)
    breaks = np.flatnonzero(np.diff(unique) != 1) + 1
    values: dict[int, float] = {}
    with warnings.catch_warnings():
        # a run of indices need not have a power-of-two length; the points are the sequence's all the same
        warnings.simplefilter("ignore")
        for run in np.split(unique, breaks):
            points = sampler.sample(int(run.size), 1, seed, start=int(run[0]))[:, 0]
            values.update(zip(run.tolist(), points.tolist(), strict=True))
    for pos, i in enumerate(idx.tolist()):
        out[pos] = values[i]
    return out


def assign_variants(
    mixture: Mapping[str, InitialConditionRef], indices: Sequence[int], root_seed: int
) -> list[str]:
    """The variant name of each global operator index (deterministic, independent of the batch)."""
    if not mixture:
        raise ValueError("the initial-condition mixture is empty")
    names = list(mixture)
    weights = np.asarray([float(mixture[n].weight) for n in names], dtype=np.float64)
    if (weights < 0).any() or weights.sum() <= 0:
        raise ValueError(
            f"mixture weights must be >= 0 and not all zero: {dict(zip(names, weights, strict=True))}"
        )
    cdf = np.cumsum(weights) / weights.sum()
    cdf[-1] = 1.0
    u = mixture_points(indices, root_seed)
    choice = np.searchsorted(cdf, u, side="right")
    choice = np.minimum(choice, len(names) - 1)
    return [names[c] for c in choice.tolist()]


def _resolver(specs_lookup: SpecsLookup) -> Callable[[str], ComponentSpec]:
    def resolve(kind: str) -> ComponentSpec:
        if isinstance(specs_lookup, Mapping):
            if kind in specs_lookup:
                return specs_lookup[kind]
            raise UnknownComponentError(ComponentKind.INITIAL_CONDITION, kind, list(specs_lookup))
        if hasattr(specs_lookup, "get") and not callable(specs_lookup):
            return specs_lookup.get(kind)
        if callable(specs_lookup):
            return specs_lookup(kind)
        return specs_lookup.get(kind)

    return resolve


def generate_initial_conditions(
    mixture: Mapping[str, InitialConditionRef] | None,
    specs_lookup: SpecsLookup,
    indices: Sequence[int],
    root_seed: int,
    *,
    channels: int,
    height: int,
    width: int,
    device: str | torch.device = "cpu",
) -> tuple[torch.Tensor, list[str], list[str]]:
    """Generate the initial conditions of operators ``indices``.

    Samples are grouped by variant and generated in one vectorised call per variant, each with the seed
    ``derive_seed(root_seed, index, "ic")``, then scattered back into ``indices`` order.

    :param mixture: variant name → reference; empty or ``None`` means :func:`default_mixture`.
    :param specs_lookup: a registry (``plugin_manager.components["initial_condition"]``), a mapping
        kind → spec, or a callable kind → spec; an unknown kind raises
        :class:`~spinlock.core.registry.UnknownComponentError` before anything is generated.
    :returns: ``(fields (B, C, H, W) float32, variant names, kinds)``, in ``indices`` order.
    """
    mixture = dict(mixture) if mixture else default_mixture()
    resolve = _resolver(specs_lookup)
    specs = {name: resolve(ref.kind) for name, ref in mixture.items()}
    variants = assign_variants(mixture, indices, root_seed)
    seeds = derive_seeds(root_seed, indices, IC_STREAM)
    fields = torch.empty((len(variants), channels, height, width), dtype=torch.float32, device=device)
    groups: dict[str, list[int]] = {}
    for pos, name in enumerate(variants):
        groups.setdefault(name, []).append(pos)
    for name, positions in groups.items():
        generator = specs[name].build(mixture[name].params)
        out = generator(
            [seeds[p] for p in positions], channels=channels, height=height, width=width, device=device
        )
        fields[torch.as_tensor(positions, device=fields.device)] = out
    kinds = [mixture[name].kind for name in variants]
    return fields, variants, kinds
