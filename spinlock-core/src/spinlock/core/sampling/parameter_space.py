"""The typed parameter schema: how each unit-cube column becomes an operator parameter.

Every parameter maps a 1-D array ``u`` of unit-interval values (``0 <= u <= 1``) to typed values. Discrete
mappings split ``[0, 1)`` into intervals whose lengths are the values' probabilities, so on a power-of-two
Sobol sample each value gets its exact share (within one point). YAML specs name the class with ``type``,
e.g. ``{type: integer, low: 2, high: 5}``; :data:`PARAMETER_TYPES` maps that tag to the class.
"""

from __future__ import annotations

import keyword
import math
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, ClassVar, TypeAlias

import attrs
import numpy as np
from numpy.typing import NDArray

Choice: TypeAlias = str | int | float | bool

#: Parameter names that would collide with the dataset layout (``/parameters/unit`` holds the unit points).
RESERVED_NAMES = frozenset({"unit"})


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_real(value: object) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )


def _as_unit_vector(u: NDArray[np.float64] | Sequence[float]) -> NDArray[np.float64]:
    array = np.asarray(u, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"unit values must be a 1-D array, got shape {array.shape}")
    if array.size and not (np.all(np.isfinite(array)) and array.min() >= 0.0 and array.max() <= 1.0):
        raise ValueError("unit values must lie in [0, 1]")
    return array


def _interval_index(u: NDArray[np.float64], count: int) -> NDArray[np.int64]:
    """``floor(u * count)`` clamped to ``count - 1`` (``u == 1`` falls in the last interval)."""
    index = np.floor(u * count).astype(np.int64)
    return np.minimum(index, count - 1)


@attrs.frozen
class IntegerParameter:
    """Integer uniform on ``[low, high]`` (both inclusive): ``low + floor(u * (high - low + 1))``.

    Each of the ``high - low + 1`` values owns an interval of length ``1 / (high - low + 1)``.
    Mapped values are int64.
    """

    type_name: ClassVar[str] = "integer"

    low: int
    high: int

    def __attrs_post_init__(self) -> None:
        for name in ("low", "high"):
            if not _is_int(getattr(self, name)):
                raise ValueError(f"integer parameter: {name} must be an integer, got {getattr(self, name)!r}")
        if self.low > self.high:
            raise ValueError(f"integer parameter: low ({self.low}) must be <= high ({self.high})")
        object.__setattr__(self, "low", int(self.low))
        object.__setattr__(self, "high", int(self.high))

    @property
    def dtype(self) -> np.dtype[Any]:
        """``int64``."""
        return np.dtype(np.int64)

    @property
    def is_constant(self) -> bool:
        """Whether only one value can be drawn (``low == high``)."""
        return self.low == self.high

    def values(self) -> NDArray[np.int64]:
        """All values, shape ``(high - low + 1,)``."""
        return np.arange(self.low, self.high + 1, dtype=np.int64)

    def map(self, u: NDArray[np.float64] | Sequence[float]) -> NDArray[np.int64]:
        """Map unit values, shape ``(N,)``, to int64 values, shape ``(N,)``."""
        unit = _as_unit_vector(u)
        return self.low + _interval_index(unit, self.high - self.low + 1)

    def to_dict(self) -> dict[str, Any]:
        """The YAML/JSON spec, ``{"type": "integer", "low": ..., "high": ...}``."""
        return {"type": self.type_name, "low": self.low, "high": self.high}


@attrs.frozen
class ContinuousParameter:
    """Real uniform on ``[low, high]``, or log-uniform when ``log`` (then ``low > 0``).

    Linear: ``low + u * (high - low)``; log: ``exp(ln low + u * (ln high - ln low))``, clipped to
    ``[low, high]`` against rounding. Mapped values are float64.
    """

    type_name: ClassVar[str] = "continuous"

    low: float
    high: float
    log: bool = False

    def __attrs_post_init__(self) -> None:
        for name in ("low", "high"):
            value = getattr(self, name)
            if not _is_real(value) or not math.isfinite(value):
                raise ValueError(f"continuous parameter: {name} must be a finite number, got {value!r}")
        if not isinstance(self.log, (bool, np.bool_)):
            raise ValueError(f"continuous parameter: log must be true or false, got {self.log!r}")
        if not self.low < self.high:
            raise ValueError(f"continuous parameter: low ({self.low}) must be < high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError(f"continuous parameter: log scale needs low > 0, got low={self.low}")
        object.__setattr__(self, "low", float(self.low))
        object.__setattr__(self, "high", float(self.high))
        object.__setattr__(self, "log", bool(self.log))

    @property
    def dtype(self) -> np.dtype[Any]:
        """``float64``."""
        return np.dtype(np.float64)

    @property
    def is_constant(self) -> bool:
        """Always ``False`` (``low < high``)."""
        return False

    def map(self, u: NDArray[np.float64] | Sequence[float]) -> NDArray[np.float64]:
        """Map unit values, shape ``(N,)``, to float64 values, shape ``(N,)``."""
        unit = _as_unit_vector(u)
        if self.log:
            log_low, log_high = math.log(self.low), math.log(self.high)
            values = np.exp(log_low + unit * (log_high - log_low))
        else:
            values = self.low + unit * (self.high - self.low)
        return np.clip(values, self.low, self.high)

    def to_dict(self) -> dict[str, Any]:
        """The YAML/JSON spec, ``{"type": "continuous", "low": ..., "high": ..., "log": ...}``."""
        return {"type": self.type_name, "low": self.low, "high": self.high, "log": self.log}


def _choices_dtype(choices: tuple[Choice, ...]) -> np.dtype[Any]:
    if all(isinstance(c, (bool, np.bool_)) for c in choices):
        return np.dtype(np.bool_)
    if all(isinstance(c, str) for c in choices):
        return np.array(choices).dtype
    if all(_is_int(c) for c in choices):
        return np.dtype(np.int64)
    if all(_is_real(c) for c in choices):
        return np.dtype(np.float64)
    raise ValueError(
        f"choice parameter: choices must all be strings, all booleans or all numbers, got {list(choices)!r}"
    )


def _optional_weights(weights: Sequence[float] | None) -> tuple[float, ...] | None:
    if weights is None:
        return None
    if isinstance(weights, (str, bytes)) or not isinstance(weights, Sequence | np.ndarray):
        raise ValueError(f"choice parameter: weights must be a list of numbers, got {weights!r}")
    if not all(_is_real(w) for w in weights):
        raise ValueError(f"choice parameter: weights must be numbers, got {list(weights)!r}")
    return tuple(float(w) for w in weights)


def _choices_tuple(choices: Sequence[Choice]) -> tuple[Choice, ...]:
    if isinstance(choices, (str, bytes)) or not isinstance(choices, Sequence | np.ndarray):
        raise ValueError(f"choice parameter: choices must be a list, got {choices!r}")
    return tuple(c.item() if isinstance(c, np.generic) else c for c in choices)


@attrs.frozen
class ChoiceParameter:
    """One of ``choices``, uniformly or with ``weights``.

    Weights must be non-negative with a positive sum; they are normalised by their sum (they need not
    sum to 1). Choice ``i`` owns ``[c(i-1), c(i))`` where ``c = cumsum(w) / sum(w)``; a zero weight is never
    drawn. Mapped values are a numpy unicode array for string choices, bool for booleans, int64 for
    integers and float64 for other numbers; mixing strings, booleans and numbers is rejected.
    """

    type_name: ClassVar[str] = "choice"

    choices: tuple[Choice, ...] = attrs.field(converter=_choices_tuple)
    weights: tuple[float, ...] | None = attrs.field(default=None, converter=_optional_weights)

    def __attrs_post_init__(self) -> None:
        if not self.choices:
            raise ValueError("choice parameter: choices must contain at least one option")
        for choice in self.choices:
            if not isinstance(choice, (str, bool, int, float)):
                raise ValueError(f"choice parameter: options must be str, int, float or bool, got {choice!r}")
        if len(set(self.choices)) != len(self.choices):
            raise ValueError(f"choice parameter: choices must be unique, got {list(self.choices)!r}")
        _choices_dtype(self.choices)
        if self.weights is None:
            return
        if len(self.weights) != len(self.choices):
            raise ValueError(
                f"choice parameter: {len(self.weights)} weights for {len(self.choices)} choices; "
                "give one weight per choice"
            )
        if not all(math.isfinite(w) and w >= 0 for w in self.weights):
            raise ValueError(f"choice parameter: weights must be finite and >= 0, got {list(self.weights)!r}")
        if sum(self.weights) <= 0:
            raise ValueError("choice parameter: weights must have a positive sum")

    @property
    def dtype(self) -> np.dtype[Any]:
        """The dtype of :meth:`values` and :meth:`map` (see the class docstring)."""
        return _choices_dtype(self.choices)

    @property
    def probabilities(self) -> NDArray[np.float64]:
        """Normalised weights, shape ``(len(choices),)``."""
        if self.weights is None:
            return np.full(len(self.choices), 1.0 / len(self.choices))
        weights = np.asarray(self.weights, dtype=np.float64)
        normalised: NDArray[np.float64] = weights / weights.sum()
        return normalised

    @property
    def is_constant(self) -> bool:
        """Whether only one choice can be drawn (one option, or one positive weight)."""
        return int(np.count_nonzero(self.probabilities)) == 1

    def values(self) -> NDArray[Any]:
        """All choices as an array of :attr:`dtype`, shape ``(len(choices),)``."""
        return np.array(self.choices, dtype=self.dtype)

    def map(self, u: NDArray[np.float64] | Sequence[float]) -> NDArray[Any]:
        """Map unit values, shape ``(N,)``, to choices, shape ``(N,)`` of :attr:`dtype`."""
        unit = _as_unit_vector(u)
        if self.weights is None:
            index = _interval_index(unit, len(self.choices))
        else:
            probabilities = self.probabilities
            last_drawable = int(np.flatnonzero(probabilities)[-1])
            edges = np.cumsum(probabilities)
            edges[last_drawable:] = 1.0  # the normalised sum may round below 1
            # u == 1 falls in the last choice with a positive weight.
            index = np.minimum(np.searchsorted(edges, unit, side="right"), last_drawable)
        return self.values()[index]

    def to_dict(self) -> dict[str, Any]:
        """The YAML/JSON spec, ``{"type": "choice", "choices": [...], "weights": [...] | None}``."""
        weights = None if self.weights is None else list(self.weights)
        return {"type": self.type_name, "choices": list(self.choices), "weights": weights}


@attrs.frozen
class BooleanParameter:
    """``True`` with probability ``p_true``: the value is ``u < p_true`` (so ``[0, p_true)`` is True).

    Mapped values are bool.
    """

    type_name: ClassVar[str] = "boolean"

    p_true: float = 0.5

    def __attrs_post_init__(self) -> None:
        if not _is_real(self.p_true) or not 0.0 <= self.p_true <= 1.0:
            raise ValueError(f"boolean parameter: p_true must be a number in [0, 1], got {self.p_true!r}")
        object.__setattr__(self, "p_true", float(self.p_true))

    @property
    def dtype(self) -> np.dtype[Any]:
        """``bool``."""
        return np.dtype(np.bool_)

    @property
    def is_constant(self) -> bool:
        """Whether ``p_true`` is 0 or 1."""
        return self.p_true in (0.0, 1.0)

    def values(self) -> NDArray[np.bool_]:
        """``[False, True]``."""
        return np.array([False, True])

    def map(self, u: NDArray[np.float64] | Sequence[float]) -> NDArray[np.bool_]:
        """Map unit values, shape ``(N,)``, to booleans, shape ``(N,)``."""
        return _as_unit_vector(u) < self.p_true

    def to_dict(self) -> dict[str, Any]:
        """The YAML/JSON spec, ``{"type": "boolean", "p_true": ...}``."""
        return {"type": self.type_name, "p_true": self.p_true}


Parameter: TypeAlias = IntegerParameter | ContinuousParameter | ChoiceParameter | BooleanParameter

#: YAML ``type`` tag -> parameter class.
PARAMETER_TYPES: dict[str, type[Parameter]] = {
    cls.type_name: cls for cls in (IntegerParameter, ContinuousParameter, ChoiceParameter, BooleanParameter)
}


def parameter_from_dict(spec: Mapping[str, Any]) -> Parameter:
    """Build a parameter from its spec, e.g. ``{"type": "integer", "low": 2, "high": 5}``.

    Raises ``ValueError`` for a missing or unknown ``type`` and for unknown or missing fields.
    """
    if "type" not in spec:
        raise ValueError(f"parameter spec needs a 'type' ({', '.join(PARAMETER_TYPES)}), got {dict(spec)!r}")
    type_name = spec["type"]
    cls = PARAMETER_TYPES.get(type_name) if isinstance(type_name, str) else None
    if cls is None:
        raise ValueError(f"unknown parameter type {type_name!r}; known types: {', '.join(PARAMETER_TYPES)}")
    fields = {f.name for f in attrs.fields(cls)}
    kwargs = {k: v for k, v in spec.items() if k != "type"}
    unknown = sorted(set(kwargs) - fields)
    if unknown:
        raise ValueError(f"{type_name} parameter: unknown field(s) {unknown}; allowed: {sorted(fields)}")
    try:
        return cls(**kwargs)
    except TypeError as error:  # a missing required field
        raise ValueError(f"{type_name} parameter: {error}") from None


def _parameter_mapping(parameters: Mapping[str, Parameter]) -> Mapping[str, Parameter]:
    if not isinstance(parameters, Mapping):
        raise ValueError(
            f"parameters must be a mapping of name to parameter, got {type(parameters).__name__}"
        )
    if not parameters:
        raise ValueError("a parameter space needs at least one parameter")
    for name, parameter in parameters.items():
        if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
            raise ValueError(f"parameter name {name!r} is not a valid identifier")
        if name in RESERVED_NAMES:
            raise ValueError(f"parameter name {name!r} is reserved by the dataset layout")
        if not isinstance(parameter, tuple(PARAMETER_TYPES.values())):
            raise ValueError(
                f"parameter {name!r}: expected one of {list(PARAMETER_TYPES)}, got {parameter!r}"
            )
    return MappingProxyType(dict(parameters))


def _mapping_key(parameters: Mapping[str, Parameter]) -> tuple[tuple[str, Parameter], ...]:
    return tuple(parameters.items())


@attrs.frozen
class ParameterSpace:
    """An ordered set of named parameters; parameter ``i`` consumes column ``i`` of the unit cube.

    Storing :attr:`names` with the unit points keeps a stored vector's meaning independent of YAML order.
    """

    parameters: Mapping[str, Parameter] = attrs.field(converter=_parameter_mapping, eq=_mapping_key)

    @property
    def names(self) -> tuple[str, ...]:
        """Parameter names in column order."""
        return tuple(self.parameters)

    @property
    def dimension(self) -> int:
        """Number of unit-cube columns (one per parameter)."""
        return len(self.parameters)

    def dead_dimensions(self) -> tuple[str, ...]:
        """Names of parameters that can take one value only: each consumes a Sobol dimension for nothing."""
        return tuple(name for name, parameter in self.parameters.items() if parameter.is_constant)

    def map(self, unit: NDArray[np.float64]) -> dict[str, NDArray[Any]]:
        """Map unit points, shape ``(N, dimension)`` with values in ``[0, 1]``, to ``{name: (N,) array}``."""
        points = np.asarray(unit)
        if points.ndim != 2 or points.shape[1] != self.dimension:
            raise ValueError(
                f"unit points must have shape (N, {self.dimension}) for parameters {list(self.names)}, "
                f"got shape {points.shape}"
            )
        if not np.issubdtype(points.dtype, np.floating) and not np.issubdtype(points.dtype, np.integer):
            raise ValueError(f"unit points must be real numbers, got dtype {points.dtype}")
        points = points.astype(np.float64, copy=False)
        if points.size:
            bad = ~(np.isfinite(points) & (points >= 0.0) & (points <= 1.0))
            if bad.any():
                columns = sorted({self.names[c] for c in np.nonzero(bad)[1]})
                raise ValueError(f"unit points must lie in [0, 1]; out of range in column(s) {columns}")
        return {
            name: parameter.map(points[:, i]) for i, (name, parameter) in enumerate(self.parameters.items())
        }

    def describe(self) -> list[dict[str, Any]]:
        """JSON-able description, one ``{"name": ..., "type": ..., <fields>}`` per column in order."""
        return [{"name": name, **parameter.to_dict()} for name, parameter in self.parameters.items()]

    @classmethod
    def from_describe(cls, description: Sequence[Mapping[str, Any]]) -> ParameterSpace:
        """Rebuild a space from :meth:`describe` output."""
        parameters: dict[str, Parameter] = {}
        for entry in description:
            spec = dict(entry)
            name = spec.pop("name", None)
            if not isinstance(name, str):
                raise ValueError(f"parameter description needs a string 'name', got {entry!r}")
            if name in parameters:
                raise ValueError(f"duplicate parameter name {name!r}")
            parameters[name] = parameter_from_dict(spec)
        return cls(parameters)
