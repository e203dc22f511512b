"""Architectures: shapes, every hyper-parameter has an effect, seeded weights, stacking, θ mapping."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap

import attrs
import pytest
import torch

from spinlock.core.registry import OperatorBlockRegistry
from spinlock.operators.architectures import (
    Architecture,
    BatchedOperator,
    CNNConfig,
    ParameterMappingError,
    UAFNOConfig,
    apply_parameters,
    architecture_signature,
    build_batched,
    build_single,
)
from spinlock.operators.block_registration import spinlock_register_operator_blocks

GRID = 32
SMALL = {
    "cnn": CNNConfig(num_layers=2, base_channels=8),
    "u_afno": UAFNOConfig(base_channels=8, num_blocks=2, modes=3),
}

# field → a value different from SMALL's; every field of every config must appear (checked below)
ALTERNATIVES = {
    "cnn": {
        "num_layers": 3,
        "base_channels": 6,
        "kernel_size": 5,
        "activation": "tanh",
        "normalization": "group",
        "padding": "zeros",
        "residual": True,
        "dropout_rate": 0.5,
        "weight_scale": 2.0,
    },
    "u_afno": {
        "base_channels": 4,
        "encoder_levels": 1,
        "blocks_per_level": 2,
        "afno_blocks": 1,
        "modes": 2,
        "num_blocks": 4,
        "hidden_factor": 2.0,
        "mlp_ratio": 1.0,
        "sparsity": 0.5,
        "activation": "silu",
        "normalization": "layer",
        "padding": "zeros",
        "weight_scale": 0.5,
    },
}


def _input(rows: int, channels: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(rows, channels, GRID, GRID, generator=torch.Generator().manual_seed(seed))


def _operator_state(op: BatchedOperator, position: int) -> dict[str, torch.Tensor]:
    """Every parameter and buffer slice of the operator at ``position`` of a stack."""
    return {name: t[position] for name, t in op.net.state_dict().items()}


@pytest.mark.parametrize("arch", ["cnn", "u_afno"])
@pytest.mark.parametrize("channels", [1, 3])
def test_shapes(arch: str, channels: int) -> None:
    op = build_batched(arch, SMALL[arch], [0, 1], 0, grid_shape=(channels, GRID, GRID))
    y = op(_input(2 * 3, channels))
    assert y.shape == (6, channels, GRID, GRID)
    assert torch.isfinite(y).all()


def test_alternatives_cover_every_field() -> None:
    for arch, config in SMALL.items():
        assert set(ALTERNATIVES[arch]) == {f.name for f in attrs.fields(type(config))}, arch


@pytest.mark.parametrize(
    ("arch", "field", "value"),
    [(arch, field, value) for arch, values in ALTERNATIVES.items() for field, value in values.items()],
)
def test_every_hyper_parameter_changes_the_output(arch: str, field: str, value: object) -> None:
    x = _input(2, 2)
    base = build_single(arch, SMALL[arch], 4, 11, grid_shape=(2, GRID, GRID))
    changed_config = attrs.evolve(SMALL[arch], **{field: value})
    assert changed_config != SMALL[arch]
    changed = build_single(arch, changed_config, 4, 11, grid_shape=(2, GRID, GRID))
    with torch.inference_mode():
        assert (base(x) - changed(x)).abs().max() > 1e-4, f"{arch}.{field} has no effect"


def _weights_digest(arch: str, index: int) -> str:
    op = build_single(arch, SMALL[arch], index, 123, grid_shape=(3, GRID, GRID))
    digest = hashlib.sha256()
    for name, tensor in sorted(op.net.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.contiguous().numpy().tobytes())
    return digest.hexdigest()


@pytest.mark.parametrize("arch", ["cnn", "u_afno"])
def test_weights_are_identical_in_another_process(arch: str) -> None:
    code = textwrap.dedent(
        f"""
        import hashlib
        from spinlock.operators.architectures import CNNConfig, UAFNOConfig, build_single
        config = {SMALL[arch]!r}
        op = build_single({arch!r}, config, 5, 123, grid_shape=(3, {GRID}, {GRID}))
        digest = hashlib.sha256()
        for name, tensor in sorted(op.net.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.contiguous().numpy().tobytes())
        print(digest.hexdigest())
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "random"},
    )
    assert out.stdout.strip() == _weights_digest(arch, 5)
    assert _weights_digest(arch, 5) != _weights_digest(arch, 6)


@pytest.mark.parametrize("arch", ["cnn", "u_afno"])
def test_stack_equals_single_builds(arch: str) -> None:
    indices = [9, 3, 17]
    stack = build_batched(arch, SMALL[arch], indices, 7, grid_shape=(3, GRID, GRID))
    m = 2
    x = _input(len(indices) * m, 3)
    with torch.inference_mode():
        y = stack(x)
        for position, index in enumerate(indices):
            single = build_single(arch, SMALL[arch], index, 7, grid_shape=(3, GRID, GRID))
            # weights bit-identical whatever the stack's size and the operator's position
            for name, tensor in _operator_state(single, 0).items():
                assert torch.equal(tensor, _operator_state(stack, position)[name]), name
            rows = slice(position * m, (position + 1) * m)
            torch.testing.assert_close(single(x[rows]), y[rows], atol=1e-4, rtol=1e-4)


def test_per_operator_fields_may_differ_within_a_stack() -> None:
    configs = [
        attrs.evolve(SMALL["cnn"], dropout_rate=r, weight_scale=s) for r, s in [(0.0, 1.0), (0.4, 2.0)]
    ]
    stack = build_batched("cnn", configs, [0, 1], 3, grid_shape=(1, GRID, GRID))
    x = _input(2, 1)
    with torch.inference_mode():
        y = stack(x)
        for position, config in enumerate(configs):
            single = build_single("cnn", config, position, 3, grid_shape=(1, GRID, GRID))
            torch.testing.assert_close(
                single(x[position : position + 1]), y[position : position + 1], atol=1e-4, rtol=1e-4
            )
    with pytest.raises(ValueError, match="does not share the architecture signature"):
        build_batched(
            "cnn", [SMALL["cnn"], attrs.evolve(SMALL["cnn"], kernel_size=5)], [0, 1], 3, grid_shape=(1, 8, 8)
        )


@pytest.mark.parametrize("arch", ["cnn", "u_afno"])
def test_rows_are_independent_and_batch_size_does_not_matter(arch: str) -> None:
    op = build_batched(arch, SMALL[arch], [0, 1], 0, grid_shape=(2, GRID, GRID))
    x = _input(8, 2)  # O=2, M=4
    x2 = x.clone()
    x2[5] = torch.randn(2, GRID, GRID) * 3  # operator 1, realization 1
    with torch.inference_mode():
        y, y2 = op(x), op(x2)
        others = [r for r in range(8) if r != 5]
        torch.testing.assert_close(y2[others], y[others], atol=1e-6, rtol=0)
        assert (y2[5] - y[5]).abs().max() > 1e-3
        # M=1: rows 0 and 4 are the first realizations of operators 0 and 1
        torch.testing.assert_close(op(x[[0, 4]]), y[[0, 4]], atol=1e-5, rtol=1e-5)


def test_u_afno_modes_are_validated_against_the_bottleneck() -> None:
    with pytest.raises(
        ValueError, match=r"'modes' must be <= 4 for a 32×32 grid with encoder_levels=2 \(bottleneck 8×8\): 6"
    ):
        build_single(
            "u_afno", UAFNOConfig(modes=6, base_channels=8, num_blocks=2), 0, 0, grid_shape=(1, 32, 32)
        )
    op = build_single(
        "u_afno", UAFNOConfig(modes=4, base_channels=8, num_blocks=2), 0, 0, grid_shape=(1, 32, 32)
    )
    assert op.info == {"modes": 4, "bottleneck_grid": (8, 8)}
    with pytest.raises(ValueError, match=r"'modes' must be >= 1: 0"):
        UAFNOConfig(modes=0)
    with pytest.raises(ValueError, match=r"'num_blocks' must divide the bottleneck width"):
        UAFNOConfig(base_channels=6, encoder_levels=1, num_blocks=5)
    with pytest.raises(ValueError, match="not divisible by 2"):
        build_single("u_afno", UAFNOConfig(encoder_levels=2), 0, 0, grid_shape=(1, 30, 30))


def test_apply_parameters_maps_theta_onto_the_config() -> None:
    theta = {"num_layers": 4.0, "kernel_size": 5, "activation": "relu", "residual": 1, "dropout_rate": 0.2}
    config = apply_parameters(CNNConfig(), {**theta, "noise_scale": 0.1, "update_policy": "residual"})
    assert config == CNNConfig(
        num_layers=4, kernel_size=5, activation="relu", residual=True, dropout_rate=0.2
    )
    with pytest.raises(ParameterMappingError, match=r"'num_layer' \(did you mean 'num_layers'\?\)"):
        apply_parameters(CNNConfig(), {"num_layer": 3})
    with pytest.raises(ParameterMappingError, match="'kernel_size'"):
        apply_parameters(UAFNOConfig(), {"kernel_size": 3})  # U-AFNO has no kernel_size: not sampled
    with pytest.raises(ParameterMappingError, match=r"'num_layers' must be an integer: 3.5"):
        apply_parameters(CNNConfig(), {"num_layers": 3.5})
    with pytest.raises(ValueError, match=r"'kernel_size' must be odd: 4"):
        apply_parameters(CNNConfig(), {"kernel_size": 4})
    assert apply_parameters(CNNConfig(), {"seed_extra": 1}, extra_known={"seed_extra"}) == CNNConfig()


def test_registered_architectures_build_and_group_by_signature() -> None:
    registry = OperatorBlockRegistry()
    spinlock_register_operator_blocks(registry)
    spec = registry.get("cnn")
    assert spec.metadata["role"] == "architecture"
    arch = spec.build(SMALL["cnn"])
    assert isinstance(arch, Architecture)
    assert arch.signature == architecture_signature(attrs.evolve(SMALL["cnn"], dropout_rate=0.3))
    assert arch.signature != architecture_signature(attrs.evolve(SMALL["cnn"], num_layers=5))
    op = arch.build([0, 1], 0, grid_shape=(1, 16, 16))
    assert op(torch.randn(2, 1, 16, 16)).shape == (2, 1, 16, 16)


def test_dtype_and_device_placement() -> None:
    op32 = build_single("cnn", SMALL["cnn"], 2, 0, grid_shape=(1, 16, 16))
    op64 = build_single("cnn", SMALL["cnn"], 2, 0, "cpu", torch.float64, grid_shape=(1, 16, 16))
    w32 = op32.net.lift.conv.weight
    assert op64.net.lift.conv.weight.dtype == torch.float64
    assert torch.equal(op64.net.lift.conv.weight.float(), w32)
    x = torch.randn(1, 1, 16, 16)
    torch.testing.assert_close(op64(x.double()).float(), op32(x), atol=1e-4, rtol=1e-4)
