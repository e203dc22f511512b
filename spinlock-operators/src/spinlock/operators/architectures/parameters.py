"""Map sampled parameters θ onto an architecture config (import-light: no torch).

"Every sampled parameter has an effect, or is not sampled": :func:`apply_parameters` sets each θ entry whose
name is a field of the architecture's config, accepts names that the rollout consumes (``extra_known``), and
rejects every other name with an error that names it and suggests the nearest valid one.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Collection, Mapping
from typing import Any, TypeVar

import attrs

from spinlock.core.registry import suggest

#: θ names consumed by the rollout engine rather than by the architecture (the generation plan maps each
#: onto the rollout setting it overrides: :mod:`spinlock.operators.generation.plan`)
ROLLOUT_PARAMETER_NAMES: frozenset[str] = frozenset(
    {
        "update_policy",
        "dt",
        "alpha",
        "noise_scale",
        "noise_type",
        "noise_schedule",
        "schedule_period",
        "spatial_correlation",
    }
)

C = TypeVar("C")


class ParameterMappingError(ValueError):
    """A sampled parameter that nothing consumes, or a value the architecture cannot take."""


def _coerce(name: str, kind: Any, value: Any) -> Any:
    """Convert a sampled scalar to the field's type without silently truncating."""
    kind = kind if isinstance(kind, str) else getattr(kind, "__name__", str(kind))
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()  # numpy / torch scalars
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, numbers.Real) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ParameterMappingError(f"'{name}' must be a boolean: {value!r}")
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ParameterMappingError(f"'{name}' must be an integer: {value!r}")
        if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
            raise ParameterMappingError(f"'{name}' must be an integer: {value!r}")
        return int(float(value))
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ParameterMappingError(f"'{name}' must be a number: {value!r}")
        return float(value)
    if kind == "str":
        if not isinstance(value, str):
            raise ParameterMappingError(f"'{name}' must be a string: {value!r}")
        return value
    return value


def apply_parameters(
    arch_config: C,
    theta: Mapping[str, Any],
    *,
    extra_known: Collection[str] = ROLLOUT_PARAMETER_NAMES,
) -> C:
    """``arch_config`` with every θ entry named like one of its fields set (``attrs.evolve``).

    :param arch_config: an architecture config (e.g. ``CNNConfig()``): the defaults for what θ leaves out.
    :param theta: sampled values by name; integers may arrive as integral floats (``3.0``), never ``3.5``.
    :param extra_known: names consumed elsewhere (by default the rollout's), accepted and ignored here.
    :raises ParameterMappingError: for names neither the architecture nor ``extra_known`` consumes, and for
        values of the wrong type; the config's own validators raise ``ValueError`` for bad values.
    """
    if not attrs.has(type(arch_config)):
        raise TypeError(f"arch_config must be an attrs config, got {type(arch_config).__name__}")
    config_cls: Any = type(arch_config)
    fields = {f.name: f for f in attrs.fields(config_cls)}
    unknown = [name for name in theta if name not in fields and name not in extra_known]
    if unknown:
        lines = []
        for name in unknown:
            guess = suggest(name, [*fields, *extra_known])
            hint = f" (did you mean {guess!r}?)" if guess else ""
            lines.append(f"{name!r}{hint}")
        raise ParameterMappingError(
            f"sampled parameter(s) {', '.join(lines)} are used neither by architecture "
            f"{type(arch_config).__name__} nor by the rollout; architecture parameters: "
            f"{', '.join(fields)}; rollout parameters: {', '.join(sorted(extra_known))}"
        )
    changes = {
        name: _coerce(name, fields[name].type, value) for name, value in theta.items() if name in fields
    }
    return attrs.evolve(arch_config, **changes)  # type: ignore[misc]
