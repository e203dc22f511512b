"""ARCHITECTURE family: typed values, log scales, one-hot choices, derived estimates, bad inputs."""

from __future__ import annotations

import numpy as np
import pytest

from spinlock.core.features.family import FeatureInputs
from spinlock.core.sampling.parameter_space import ParameterSpace
from spinlock.features.architecture import ArchitectureFamily
from spinlock.features.configs import ArchitectureConfig

SPACE = ParameterSpace.from_describe(
    [
        {"name": "num_layers", "type": "integer", "low": 2, "high": 4},
        {"name": "kernel_size", "type": "choice", "choices": [3, 5, 7]},
        {"name": "activation", "type": "choice", "choices": ["gelu", "tanh", "relu"]},
        {"name": "dropout_rate", "type": "continuous", "low": 0.0, "high": 0.3},
        {"name": "noise_scale", "type": "continuous", "low": 1e-4, "high": 0.05, "log": True},
        {"name": "use_bias", "type": "boolean", "p_true": 0.5},
    ]
)


def _inputs(n: int = 64, seed: int = 0) -> FeatureInputs:
    rng = np.random.default_rng(seed)
    params = SPACE.map(rng.random((n, SPACE.dimension)))
    return FeatureInputs(parameters=params, parameter_space=SPACE.describe())


def test_columns_and_values() -> None:
    inputs = _inputs()
    family = ArchitectureFamily(ArchitectureConfig(base_channels=8))
    cols = family.columns(inputs)
    values = family.compute(inputs).numpy().astype(np.float64)
    col = {name: values[:, i] for i, name in enumerate(cols.names)}
    cat = dict(zip(cols.names, cols.categories, strict=True))
    p = inputs.parameters
    assert set(cols.categories) == {"parameter", "choice", "derived"}
    np.testing.assert_allclose(col["num_layers"], p["num_layers"])
    np.testing.assert_allclose(col["log10_noise_scale"], np.log10(p["noise_scale"]), rtol=1e-6)
    np.testing.assert_allclose(col["dropout_rate"], p["dropout_rate"], rtol=1e-6)
    np.testing.assert_allclose(col["use_bias"], p["use_bias"].astype(float))
    for name, choices in (("kernel_size", [3, 5, 7]), ("activation", ["gelu", "tanh", "relu"])):
        hot = np.stack([col[f"{name}={c}"] for c in choices], axis=1)
        assert all(cat[f"{name}={c}"] == "choice" for c in choices)
        np.testing.assert_array_equal(hot.sum(1), 1.0)
        np.testing.assert_array_equal(np.asarray(choices)[hot.argmax(1)], p[name])
    np.testing.assert_allclose(col["receptive_field"], 1 + p["num_layers"] * (p["kernel_size"] - 1))
    np.testing.assert_allclose(
        col["log10_est_conv_params"], np.log10(p["num_layers"] * 64 * p["kernel_size"] ** 2), rtol=1e-6
    )
    assert ((col["noise_scale_unit"] >= 0) & (col["noise_scale_unit"] <= 1)).all()
    # every column varies over a diverse (quasi-random) set of θ
    assert (values.std(0) > 0).all(), [n for n, s in zip(cols.names, values.std(0), strict=True) if s == 0]


def test_no_base_channels_means_no_param_estimate() -> None:
    cols = ArchitectureFamily().columns(_inputs(4))
    assert "receptive_field" in cols.names and "log10_est_conv_params" not in cols.names


def test_batch_independence() -> None:
    family = ArchitectureFamily()
    inputs = _inputs(8)
    full = family.compute(inputs)
    alone = FeatureInputs(
        parameters={k: v[5:6] for k, v in inputs.parameters.items()}, parameter_space=inputs.parameter_space
    )
    assert np.array_equal(family.compute(alone)[0].numpy(), full[5].numpy())


def test_bad_inputs() -> None:
    family = ArchitectureFamily()
    with pytest.raises(ValueError, match="needs parameters"):
        family.compute(FeatureInputs())
    inputs = _inputs(4)
    partial = {k: v for k, v in inputs.parameters.items() if k != "activation"}
    with pytest.raises(ValueError, match="activation"):
        family.compute(FeatureInputs(parameters=partial, parameter_space=inputs.parameter_space))
    with pytest.raises(ValueError, match="no parameter_space"):
        family.compute(FeatureInputs(parameters={"activation": np.array(["gelu"])}))
    odd = dict(inputs.parameters, activation=np.array(["gelu", "tanh", "swish", "relu"]))
    with pytest.raises(ValueError, match="swish"):
        family.compute(FeatureInputs(parameters=odd, parameter_space=inputs.parameter_space))
