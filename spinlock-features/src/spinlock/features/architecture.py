"""ARCHITECTURE family: the sampled parameters θ decoded into typed, named, unit-free columns.

The columns follow ``inputs.parameter_space`` (``ParameterSpace.describe()``), in its order:

- integer: ``<param>`` (the value), category ``parameter``;
- continuous: ``<param>``, or ``log10_<param>`` when log-scaled, category ``parameter``;
- integer/continuous with ``unit_positions``: ``<param>_unit``, the position in [low, high] (log scale for
  log parameters) in [0, 1], category ``parameter``;
- choice: one-hot ``<param>=<choice>``, category ``choice``, plus ``<param>`` (the value) when every choice
  is a number, category ``parameter``;
- boolean: ``<param>`` as 0/1, category ``parameter``.

Derived estimates (category ``derived``), each emitted only when the names it needs are in θ:

- ``receptive_field`` = 1 + num_layers · (kernel_size − 1) (pixels), needs ``num_layers`` and ``kernel_size``;
- ``log10_est_conv_params`` = log10(num_layers · base_channels² · kernel_size²), the weights of the hidden
  convolutions; ``base_channels`` from θ or else from the config.

Without a parameter space, numeric and boolean parameters are taken as they are (sorted by name); string
parameters then raise ``ValueError``, since their choices are unknown.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from spinlock.core.features.family import FeatureColumns, FeatureInputs
from spinlock.features.configs import ArchitectureConfig
from spinlock.features.plugin import ARCHITECTURE_VERSION

Column = tuple[str, str, Callable[[Mapping[str, np.ndarray]], np.ndarray]]


def _as_float(values: np.ndarray, name: str) -> np.ndarray:
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"parameter {name!r} is not numeric: {exc}") from exc


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )


def _value(name: str) -> Callable[[Mapping[str, np.ndarray]], np.ndarray]:
    return lambda p: _as_float(p[name], name)


def _log10(name: str) -> Callable[[Mapping[str, np.ndarray]], np.ndarray]:
    def get(p: Mapping[str, np.ndarray]) -> np.ndarray:
        v = _as_float(p[name], name)
        if (v <= 0).any():
            raise ValueError(f"log parameter {name!r} has non-positive values")
        return np.log10(v)

    return get


def _unit(name: str, low: float, high: float, log: bool) -> Callable[[Mapping[str, np.ndarray]], np.ndarray]:
    def get(p: Mapping[str, np.ndarray]) -> np.ndarray:
        v = _as_float(p[name], name)
        if high == low:
            return np.zeros_like(v)
        if log:
            return (np.log(v) - math.log(low)) / (math.log(high) - math.log(low))
        return (v - low) / (high - low)

    return get


def _one_hot(name: str, choice: object) -> Callable[[Mapping[str, np.ndarray]], np.ndarray]:
    def get(p: Mapping[str, np.ndarray]) -> np.ndarray:
        values = np.asarray(p[name])
        return np.array([v == choice for v in values.tolist()], dtype=np.float64)

    return get


def _typed_columns(space: Sequence[Mapping[str, Any]], *, unit_positions: bool) -> list[Column]:
    cols: list[Column] = []
    for entry in space:
        name = entry.get("name")
        kind = entry.get("type")
        if not isinstance(name, str) or not name:
            raise ValueError(f"parameter_space entry without a name: {dict(entry)!r}")
        if kind in ("integer", "continuous"):
            log = bool(entry.get("log", False))
            if log:
                cols.append((f"log10_{name}", "parameter", _log10(name)))
            else:
                cols.append((name, "parameter", _value(name)))
            if unit_positions:
                low, high = float(entry["low"]), float(entry["high"])
                cols.append((f"{name}_unit", "parameter", _unit(name, low, high, log)))
        elif kind == "choice":
            choices = list(entry.get("choices") or ())
            if not choices:
                raise ValueError(f"choice parameter {name!r} has no choices")
            if all(_is_number(c) for c in choices):
                cols.append((name, "parameter", _value(name)))
            cols.extend((f"{name}={c}", "choice", _one_hot(name, c)) for c in choices)
        elif kind == "boolean":
            cols.append((name, "parameter", _value(name)))
        else:
            raise ValueError(f"parameter {name!r} has unknown type {kind!r}")
    return cols


def _infer_space(parameters: Mapping[str, np.ndarray]) -> list[dict[str, Any]]:
    space: list[dict[str, Any]] = []
    for name in sorted(parameters):
        values = np.asarray(parameters[name])
        if values.dtype == np.bool_:
            space.append({"name": name, "type": "boolean"})
        elif np.issubdtype(values.dtype, np.number):
            space.append({"name": name, "type": "continuous", "log": False})
        else:
            raise ValueError(
                f"parameter {name!r} has {values.dtype} values and no parameter_space to decode them "
                "(pass parameter_space=ParameterSpace.describe())"
            )
    return space


class ArchitectureFamily:
    """The ARCHITECTURE feature family (see the module docstring for every column)."""

    name = "architecture"
    version = ARCHITECTURE_VERSION
    inputs = frozenset({"parameters"})

    def __init__(self, config: ArchitectureConfig | None = None) -> None:
        self.config = config if config is not None else ArchitectureConfig()

    def _space(self, inputs: FeatureInputs) -> list[Mapping[str, Any]]:
        if not inputs.parameters:
            raise ValueError("the ARCHITECTURE family needs parameters (θ), got none")
        if inputs.parameter_space:
            space = list(inputs.parameter_space)
            if not all(isinstance(e, Mapping) and isinstance(e.get("name"), str) for e in space):
                raise ValueError(
                    "the stored parameter space (attribute 'space' of /parameters/unit) is not a list of "
                    f"{{name, type, ...}} entries: {inputs.parameter_space!r}"
                )
            missing = [e.get("name") for e in space if e.get("name") not in inputs.parameters]
            if missing:
                raise ValueError(f"parameters missing for {missing} (named in parameter_space)")
            return space
        return list(_infer_space(inputs.parameters))

    def _plan(self, inputs: FeatureInputs) -> list[Column]:
        space = self._space(inputs)
        # without a parameter space the ranges are unknown, so there are no unit positions
        with_units = bool(inputs.parameter_space) and self.config.unit_positions
        cols = _typed_columns(space, unit_positions=with_units)
        numeric = {
            e["name"]
            for e in space
            if e.get("type") in ("integer", "continuous")
            or (e.get("type") == "choice" and all(_is_number(c) for c in e.get("choices") or ()))
        }
        if {"num_layers", "kernel_size"} <= numeric:
            cols.append(("receptive_field", "derived", _receptive_field))
            base = self.config.base_channels
            if "base_channels" in numeric or base is not None:
                cols.append(("log10_est_conv_params", "derived", _conv_params(base)))
        return cols

    def columns(self, inputs: FeatureInputs) -> FeatureColumns:
        plan = self._plan(inputs)
        names: tuple[str, ...] = tuple(c[0] for c in plan)
        categories: tuple[str, ...] = tuple(c[1] for c in plan)
        return FeatureColumns(names, categories)

    def compute(self, inputs: FeatureInputs) -> torch.Tensor:
        plan = self._plan(inputs)
        params = {k: np.asarray(v) for k, v in inputs.parameters.items()}
        sizes = {k: v.shape for k, v in params.items()}
        bad = {k: s for k, s in sizes.items() if len(s) != 1}
        if bad:
            raise ValueError(f"each parameter must be a (batch,) array, got shapes {bad}")
        lengths = {s[0] for s in sizes.values()}
        if len(lengths) != 1:
            raise ValueError(f"parameters have different batch sizes: {sizes}")
        batch = lengths.pop()
        for entry in inputs.parameter_space:
            if entry.get("type") == "choice":
                allowed = list(entry.get("choices") or ())
                strange = [v for v in params[entry["name"]].tolist() if v not in allowed]
                if strange:
                    raise ValueError(f"parameter {entry['name']!r} has values {strange[:3]} not in {allowed}")
        values = np.zeros((batch, len(plan)), dtype=np.float64)
        for j, (_, _, get) in enumerate(plan):
            values[:, j] = get(params)
        if not np.isfinite(values).all():
            raise ValueError("parameters decode to non-finite values")
        return torch.from_numpy(values.astype(np.float32))


def _receptive_field(p: Mapping[str, np.ndarray]) -> np.ndarray:
    return 1.0 + _as_float(p["num_layers"], "num_layers") * (_as_float(p["kernel_size"], "kernel_size") - 1.0)


def _conv_params(base: int | None) -> Callable[[Mapping[str, np.ndarray]], np.ndarray]:
    def get(p: Mapping[str, np.ndarray]) -> np.ndarray:
        layers = _as_float(p["num_layers"], "num_layers")
        kernel = _as_float(p["kernel_size"], "kernel_size")
        width = _as_float(p["base_channels"], "base_channels") if "base_channels" in p else float(base or 0)
        count = layers * width**2 * kernel**2
        if (count <= 0).any():
            raise ValueError("log10_est_conv_params needs positive num_layers, base_channels and kernel_size")
        return np.log10(count)

    return get


__all__ = ["ArchitectureFamily"]
