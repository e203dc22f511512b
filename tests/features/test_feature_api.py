"""The offline Python API: numpy or tensors in, batching, registry look-up, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spinlock.core.sampling.parameter_space import ParameterSpace
from spinlock.features.api import extract
from spinlock.features.configs import InitialConfig
from spinlock.features.initial import InitialFamily


def test_numpy_and_tensor_with_batching() -> None:
    u = np.random.default_rng(0).standard_normal((7, 2, 16, 16)).astype(np.float32)
    values, cols = extract("initial", initial_condition=u, batch_size=3)
    assert values.shape == (7, len(cols)) and values.dtype == np.float32
    again, _ = extract(InitialFamily(), initial_condition=torch.from_numpy(u), batch_size=64)
    np.testing.assert_allclose(values, again, rtol=1e-6, atol=1e-6)
    few, few_cols = extract("initial", initial_condition=u, config=InitialConfig(categories=("spatial",)))
    assert set(few_cols.categories) == {"spatial"} and few.shape == (7, 22)


def test_architecture_from_parameter_space_object() -> None:
    space = ParameterSpace.from_describe(
        [
            {"name": "kernel_size", "type": "choice", "choices": [3, 5]},
            {"name": "num_layers", "type": "integer", "low": 1, "high": 3},
        ]
    )
    params = space.map(np.random.default_rng(1).random((5, space.dimension)))
    values, cols = extract("architecture", parameters=params, parameter_space=space, batch_size=2)
    assert values.shape == (5, len(cols))
    assert "receptive_field" in cols.names


def test_errors() -> None:
    with pytest.raises(ValueError, match="unknown feature family 'nope'"):
        extract("nope", initial_condition=np.zeros((1, 1, 8, 8)))
    with pytest.raises(ValueError, match="needs \\['initial_condition'\\]"):
        extract("initial", parameters={"a": np.zeros(2)})
    with pytest.raises(ValueError, match="ndim 3"):
        extract("initial", initial_condition=np.zeros((1, 8, 8)))
    with pytest.raises(ValueError, match="disagree"):
        extract(
            "architecture",
            parameters={"a": np.zeros(2), "b": np.zeros(3)},
        )
