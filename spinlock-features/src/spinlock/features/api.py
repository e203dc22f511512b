"""Offline extraction on plain arrays: needs only spinlock-core and spinlock-features.

>>> values, columns = extract("initial", initial_condition=u0)  # doctest: +SKIP

``values`` is a float32 numpy array ``(N, D)`` (``(N, T, D)`` for per-timestep families) and ``columns`` the
family's :class:`~spinlock.core.features.family.FeatureColumns`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from spinlock.core.features.family import FeatureColumns, FeatureFamily, FeatureInputs
from spinlock.core.features.finite import NonFiniteFeaturesWarning, describe_nonfinite


def build_family(name: str, config: Any = None) -> FeatureFamily:
    """Build a registered feature family by name (its default config when ``config`` is ``None``)."""
    from spinlock.core.plugins import build_plugin_manager

    registry = build_plugin_manager().components["feature_family"]
    if name not in registry:
        raise ValueError(f"unknown feature family {name!r}; registered: {sorted(registry.names())}")
    family = registry.get(name).build(config)
    if not isinstance(family, FeatureFamily):
        raise ValueError(f"feature family {name!r} does not satisfy the FeatureFamily protocol")
    return family


def _tensor(value: Any, what: str, ndim: int, layout: str) -> torch.Tensor:
    tensor = value if isinstance(value, torch.Tensor) else torch.as_tensor(np.asarray(value))
    if tensor.ndim != ndim:
        raise ValueError(f"{what} must be {layout}, got ndim {tensor.ndim} (shape {tuple(tensor.shape)})")
    if not torch.is_floating_point(tensor):
        tensor = tensor.to(torch.float32)
    return tensor


def _space(parameter_space: Any) -> tuple[Mapping[str, Any], ...]:
    if hasattr(parameter_space, "describe"):
        return tuple(parameter_space.describe())
    return tuple(parameter_space)


def extract(
    family: str | FeatureFamily,
    *,
    initial_condition: Any = None,
    trajectory: Any = None,
    parameters: Mapping[str, Any] | None = None,
    parameter_space: Any = (),
    config: Any = None,
    batch_size: int = 64,
    status: Sequence[str] | None = None,
    time_stride: int = 1,
) -> tuple[np.ndarray, FeatureColumns]:
    """Compute one family's features for N samples, ``batch_size`` at a time.

    :param family: a registered family name or a family object.
    :param initial_condition: ``(N, C, H, W)`` array or tensor.
    :param trajectory: ``(N, M, T, C, H, W)`` array or tensor.
    :param parameters: θ, name → ``(N,)`` array.
    :param parameter_space: ``ParameterSpace`` or its ``describe()`` output.
    :param config: the family's config instance (only with a family name).
    :returns: ``(values, columns)``; values float32 numpy, ``(N, D)`` or ``(N, T, D)``. Values that come out
        NaN or ±inf (a finite input so large it overflows float32) are kept and reported by a
        :class:`~spinlock.core.features.finite.NonFiniteFeaturesWarning` naming samples and columns.
    :raises ValueError: for an unknown family, a missing required input, a wrong shape or mismatched N, and
        for NaN or ±inf in an input the family reads (naming the samples).
    """
    if isinstance(family, str):
        family = build_family(family, config)
    elif config is not None:
        raise ValueError("config is only used with a family name; build the family object with it instead")
    if batch_size < 1:
        raise ValueError(f"batch_size must be ≥ 1, got {batch_size}")

    given: dict[str, Any] = {}
    if initial_condition is not None:
        given["initial_condition"] = _tensor(
            initial_condition, "initial_condition", 4, "(batch, channels, height, width)"
        )
    if trajectory is not None:
        given["trajectory"] = _tensor(
            trajectory, "trajectory", 6, "(batch, realizations, time, channels, height, width)"
        )
    params = {k: np.asarray(v) for k, v in (parameters or {}).items()}
    if params:
        given["parameters"] = params
    missing = sorted(set(family.inputs) - set(given))
    if missing:
        raise ValueError(f"feature family {family.name!r} needs {missing}, which were not given")
    for key in ("initial_condition", "trajectory"):
        if key in given and key in family.inputs:
            _check_finite(given[key], key)

    sizes: dict[str, int] = {}
    for key in ("initial_condition", "trajectory"):
        if key in given:
            sizes[key] = int(given[key].shape[0])
    for key, value in params.items():
        if value.ndim != 1:
            raise ValueError(f"parameter {key!r} must be a (batch,) array, got shape {value.shape}")
        sizes[f"parameters[{key}]"] = int(value.shape[0])
    if status is not None:
        sizes["status"] = len(status)
    if len(set(sizes.values())) != 1:
        raise ValueError(f"inputs disagree on the number of samples: {sizes}")
    n = next(iter(sizes.values()))
    if n == 0:
        raise ValueError("no samples to extract")

    space = _space(parameter_space)
    chunks: list[np.ndarray] = []
    columns: FeatureColumns | None = None
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        batch = FeatureInputs(
            initial_condition=(
                given["initial_condition"][start:stop] if "initial_condition" in given else None
            ),
            trajectory=given["trajectory"][start:stop] if "trajectory" in given else None,
            parameters={k: v[start:stop] for k, v in params.items()},
            parameter_space=space,
            status=None if status is None else list(status[start:stop]),
            time_stride=time_stride,
        )
        if columns is None:
            columns = family.columns(batch)
        with torch.no_grad():
            out = family.compute(batch)
        chunks.append(out.detach().to("cpu", torch.float32).numpy())
    assert columns is not None
    values = np.concatenate(chunks, axis=0)
    problem = describe_nonfinite(family.name, values, columns.names)
    if problem is not None:
        warnings.warn(
            f"{problem}: an input this large overflows float32 arithmetic; rescale it",
            NonFiniteFeaturesWarning,
            stacklevel=2,
        )
    return values, columns


def _check_finite(tensor: torch.Tensor, what: str, limit: int = 5) -> None:
    """Refuse NaN or ±inf in an input, naming the samples: their features would be undefined."""
    bad = np.flatnonzero(~torch.isfinite(tensor).flatten(1).all(dim=1).cpu().numpy())
    if bad.size:
        examples = ", ".join(str(int(i)) for i in bad[:limit]) + (", ..." if bad.size > limit else "")
        raise ValueError(
            f"{what} has non-finite values (NaN or ±inf) in {bad.size} of {tensor.shape[0]} samples "
            f"({examples}); their features are undefined: drop or repair those samples"
        )


__all__ = ["build_family", "extract"]
