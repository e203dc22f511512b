"""The typed parameter schema and its unit-cube mappings."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from spinlock.core.sampling.parameter_space import (
    PARAMETER_TYPES,
    BooleanParameter,
    ChoiceParameter,
    ContinuousParameter,
    IntegerParameter,
    ParameterSpace,
    parameter_from_dict,
)
from spinlock.core.sampling.sobol import SobolSampler

N = 2**12


def _column(seed: int = 0) -> NDArray[np.float64]:
    return SobolSampler().sample(N, 1, seed)[:, 0]


@pytest.mark.parametrize("seed", [0, 1])
def test_integer_values_get_their_exact_share(seed: int) -> None:
    u = _column(seed)
    counts = np.bincount(IntegerParameter(2, 5).map(u) - 2)
    np.testing.assert_array_equal(counts, [N // 4] * 4)  # endpoints are not halved (reference BUG-1/12)
    # Seven values: each value's interval has non-dyadic ends. Cumulative counts of a (0, m, 1)-net are within
    # one point of N * c, so each value is within two points (within one for the end values).
    values = IntegerParameter(0, 6).map(u)
    counts = np.bincount(values, minlength=7)
    cumulative = np.cumsum(counts)
    assert np.all(np.abs(cumulative - N * np.arange(1, 8) / 7) < 1.0)
    assert np.all(np.abs(counts - N / 7) < 2.0)


def test_integer_endpoints_and_constant() -> None:
    parameter = IntegerParameter(-3, 4)
    np.testing.assert_array_equal(parameter.map(np.array([0.0, 0.9999999, 1.0])), [-3, 4, 4])
    assert parameter.map(np.array([0.5])).dtype == np.int64
    np.testing.assert_array_equal(parameter.values(), np.arange(-3, 5))
    assert IntegerParameter(3, 3).is_constant
    np.testing.assert_array_equal(IntegerParameter(3, 3).map(np.array([0.0, 1.0])), [3, 3])


def test_weighted_choice_counts() -> None:
    u = _column()
    dyadic = ChoiceParameter(["residual", "convex"], weights=[0.75, 0.25]).map(u)
    assert dyadic.dtype.kind == "U"
    assert (dyadic == "residual").sum() == 3 * N // 4 and (dyadic == "convex").sum() == N // 4
    weights = np.array([0.2, 0.3, 0.1, 0.4])
    # Weights need not sum to 1: they are normalised.
    mapped = ChoiceParameter([10, 20, 30, 40], weights=list(weights * 3)).map(u)
    counts = np.array([(mapped == v).sum() for v in (10, 20, 30, 40)])
    assert np.all(np.abs(np.cumsum(counts) - N * np.cumsum(weights)) < 1.0)
    assert np.all(np.abs(counts - N * weights) < 2.0)


def test_zero_weight_choice_is_never_drawn_and_reported_dead() -> None:
    parameter = ChoiceParameter(["a", "b", "c"], weights=[0.0, 1.0, 0.0])
    assert set(parameter.map(np.array([0.0, 0.3, 0.999, 1.0])).tolist()) == {"b"}
    assert parameter.is_constant


def test_unweighted_choice_is_uniform_and_typed() -> None:
    u = _column()
    counts = np.unique(ChoiceParameter([3, 5, 7, 9]).map(u), return_counts=True)[1]
    np.testing.assert_array_equal(counts, [N // 4] * 4)
    assert ChoiceParameter([3, 5]).dtype == np.int64
    assert ChoiceParameter([0.5, 1]).dtype == np.float64
    assert ChoiceParameter([True, False]).dtype == np.bool_
    assert ChoiceParameter(["gelu", "relu"]).map(np.array([0.0, 1.0])).tolist() == ["gelu", "relu"]


def test_log_uniform_is_uniform_in_log_space() -> None:
    u = _column()
    parameter = ContinuousParameter(1e-5, 1.0, log=True)
    values = parameter.map(u)
    assert values.min() >= 1e-5 and values.max() <= 1.0
    decades = np.floor(-np.log10(values)).astype(int)
    counts = np.bincount(np.clip(decades, 0, 4), minlength=5)
    assert np.all(np.abs(counts - N / 5) < 2.0)
    np.testing.assert_allclose((np.log(values) - np.log(1e-5)) / np.log(1e5), u, atol=1e-12)
    np.testing.assert_allclose(parameter.map(np.array([0.0, 1.0])), [1e-5, 1.0])


def test_linear_continuous_and_boolean() -> None:
    u = _column()
    np.testing.assert_allclose(ContinuousParameter(-1.0, 3.0).map(u), -1.0 + 4.0 * u)
    flags = BooleanParameter(0.25).map(u)
    assert flags.dtype == np.bool_ and flags.sum() == N // 4
    assert BooleanParameter(0.5).map(np.array([0.49, 0.5])).tolist() == [True, False]
    assert BooleanParameter(1.0).is_constant and not BooleanParameter().is_constant


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: IntegerParameter(5, 2), "low \\(5\\) must be <= high \\(2\\)"),
        (lambda: IntegerParameter(1.5, 2), "low must be an integer"),  # type: ignore[arg-type]
        (lambda: ContinuousParameter(1.0, 1.0), "must be < high"),
        (lambda: ContinuousParameter(0.0, 1.0, log=True), "log scale needs low > 0"),
        (lambda: ContinuousParameter(-1.0, float("inf")), "finite"),
        (lambda: ChoiceParameter([]), "at least one option"),
        (lambda: ChoiceParameter(["a", "a"]), "unique"),
        (lambda: ChoiceParameter(["a", 1]), "must all be strings, all booleans or all numbers"),
        (lambda: ChoiceParameter(["a", "b"], weights=[1.0]), "1 weights for 2 choices"),
        (lambda: ChoiceParameter(["a", "b"], weights=[1.0, -0.5]), ">= 0"),
        (lambda: ChoiceParameter(["a", "b"], weights=[0.0, 0.0]), "positive sum"),
        (lambda: ChoiceParameter("ab"), "must be a list"),
        (lambda: BooleanParameter(1.5), "p_true"),
    ],
)
def test_bad_specs_raise_clear_errors(build: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build()


@pytest.mark.parametrize(
    "bad", [np.array([0.5, 1.5]), np.array([-0.1]), np.array([np.nan]), np.zeros((2, 1))]
)
def test_parameter_map_rejects_bad_input(bad: NDArray[np.float64]) -> None:
    with pytest.raises(ValueError, match="unit values"):
        IntegerParameter(0, 3).map(bad)


def _space() -> ParameterSpace:
    return ParameterSpace(
        {
            "num_layers": IntegerParameter(2, 5),
            "noise_scale": ContinuousParameter(1e-5, 1.0, log=True),
            "activation": ChoiceParameter(["gelu"]),
            "update_policy": ChoiceParameter(["residual", "convex"], weights=[0.75, 0.25]),
            "use_bias": BooleanParameter(),
            "grid_size": IntegerParameter(64, 64),
        }
    )


def test_space_maps_columns_in_order() -> None:
    space = _space()
    assert space.names == (
        "num_layers",
        "noise_scale",
        "activation",
        "update_policy",
        "use_bias",
        "grid_size",
    )
    assert space.dimension == 6
    unit = SobolSampler().sample(64, space.dimension, seed=4)
    mapped = space.map(unit)
    assert list(mapped) == list(space.names)
    assert all(values.shape == (64,) for values in mapped.values())
    np.testing.assert_array_equal(mapped["num_layers"], IntegerParameter(2, 5).map(unit[:, 0]))
    assert mapped["use_bias"].dtype == np.bool_ and mapped["activation"].dtype.kind == "U"
    assert space.dead_dimensions() == ("activation", "grid_size")


def test_space_rejects_bad_points() -> None:
    space = _space()
    with pytest.raises(ValueError, match=r"shape \(N, 6\)"):
        space.map(np.zeros((4, 5)))
    with pytest.raises(ValueError, match=r"shape \(N, 6\)"):
        space.map(np.zeros(6))
    unit = np.full((3, 6), 0.5)
    unit[1, 1] = 1.2
    with pytest.raises(ValueError, match="noise_scale"):
        space.map(unit)


@pytest.mark.parametrize(
    ("parameters", "match"),
    [
        ({}, "at least one"),
        ({"not valid": BooleanParameter()}, "not a valid identifier"),
        ({"class": BooleanParameter()}, "not a valid identifier"),
        ({"unit": BooleanParameter()}, "reserved"),
        ({"x": {"type": "boolean"}}, "expected one of"),
    ],
)
def test_space_validates_names_and_parameters(parameters: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ParameterSpace(parameters)


def test_describe_is_json_and_round_trips() -> None:
    space = _space()
    description = json.loads(json.dumps(space.describe()))
    assert description[0] == {"name": "num_layers", "type": "integer", "low": 2, "high": 5}
    assert ParameterSpace.from_describe(description) == space
    assert hash(ParameterSpace.from_describe(description)) == hash(space)


def test_type_tags_dispatch_yaml_specs() -> None:
    assert set(PARAMETER_TYPES) == {"integer", "continuous", "choice", "boolean"}
    assert all(cls.type_name == tag for tag, cls in PARAMETER_TYPES.items())
    assert parameter_from_dict({"type": "integer", "low": 2, "high": 5}) == IntegerParameter(2, 5)
    log_uniform = parameter_from_dict({"type": "continuous", "low": 1e-3, "high": 1, "log": True})
    assert log_uniform == ContinuousParameter(1e-3, 1.0, log=True)
    with pytest.raises(ValueError, match="unknown parameter type 'array'"):
        parameter_from_dict({"type": "array"})
    with pytest.raises(ValueError, match="unknown field"):
        parameter_from_dict({"type": "integer", "low": 1, "high": 2, "bounds": [1, 2]})
    with pytest.raises(ValueError, match="needs a 'type'"):
        parameter_from_dict({"low": 1})
    with pytest.raises(ValueError, match="integer parameter"):
        parameter_from_dict({"type": "integer", "low": 1})
