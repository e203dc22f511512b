"""The CUDA paths: generation, features, tokenizer training and the agent on a GPU (``nox -s gpu``).

Skipped without CUDA. On CUDA a dataset is reproducible for the same compute plan; against the CPU it agrees
to floating-point tolerance (different kernels), which is what these tests check.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import h5py
import numpy as np
import pytest
import torch

from spinlock.core.config import dump_config, dump_run_config, load_run_config, make_converter
from spinlock.core.plugins import build_plugin_manager
from spinlock.features.api import extract
from spinlock.operators.generation.pipeline import ComputePlan, generate

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

RUN = """
seed: 11
n_operators: 32
grid: {height: 32, width: 32, channels: 2}
parameter_space:
  num_layers: {type: integer, low: 1, high: 3}
  alpha: {type: continuous, low: 0.4, high: 0.95}
  noise_scale: {type: continuous, low: 1.0e-3, high: 1.0e-2, log: true}
operator: {kind: cnn, params: {base_channels: 8}}
initial_conditions:
  grf: {kind: gaussian_random_field}
  front: {kind: reaction_front}
rollout: {steps: 8, realizations: 3, policy: convex}
features: [{kind: initial}, {kind: architecture}, {kind: summary}, {kind: temporal}]
storage: {store_trajectories: true}
"""


@pytest.fixture(scope="module")
def manager() -> Any:
    return build_plugin_manager(strict=True)


def _generate(folder: Path, manager: Any, name: str, **plan: Any) -> Path:
    (folder / "run.yaml").write_text(RUN)
    config = load_run_config(folder / "run.yaml", manager)
    out = folder / f"{name}.h5"
    generate(config, dump_run_config(config, manager), out, manager, plan=ComputePlan(batch_size=8, **plan))
    return out


def _read(path: Path, key: str) -> np.ndarray:
    with h5py.File(path, "r") as f:
        return np.asarray(f[key][...])


@pytest.fixture(scope="module")
def datasets(tmp_path_factory: pytest.TempPathFactory, manager: Any) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("gpu")
    return {
        "cpu": _generate(folder, manager, "cpu"),
        "cuda_a": _generate(folder, manager, "cuda_a", device="cuda"),
        "cuda_b": _generate(folder, manager, "cuda_b", device="cuda"),
        "bf16": _generate(folder, manager, "bf16", device="cuda", precision="bfloat16"),
    }


def test_cuda_generation_is_reproducible(datasets: dict[str, Path]) -> None:
    for key in ("/trajectories/fields", "/features/summary/values", "/features/temporal/values"):
        a, b = _read(datasets["cuda_a"], key), _read(datasets["cuda_b"], key)
        assert a.tobytes() == b.tobytes(), key


def test_cuda_and_cpu_share_operators_and_initial_conditions(datasets: dict[str, Path], manager: Any) -> None:
    """Weights and IC draws come from CPU generators on every device; rollout noise is device-specific."""
    cpu_ic = _read(datasets["cpu"], "/initial_conditions/fields")
    gpu_ic = _read(datasets["cuda_a"], "/initial_conditions/fields")
    close = np.isclose(gpu_ic, cpu_ic, atol=1e-4 * float(np.abs(cpu_ic).max()), rtol=1e-4)
    assert close.mean() > 0.999, close.mean()  # thresholded ICs may flip a pixel at a threshold
    from spinlock.operators.architectures.batched import build_batched
    from spinlock.operators.architectures.configs import CNNConfig

    x = torch.from_numpy(cpu_ic[:4]).repeat_interleave(2, dim=0)  # (operators × realizations, C, H, W)
    ops = {
        d: build_batched("cnn", CNNConfig(base_channels=8), range(4), 11, d, grid_shape=(2, 32, 32))
        for d in ("cpu", "cuda")
    }
    with torch.no_grad():
        y_cpu = ops["cpu"](x)
        y_gpu = ops["cuda"](x.cuda()).cpu()
    torch.testing.assert_close(y_gpu, y_cpu, atol=1e-4, rtol=1e-4)


def test_bfloat16_generation_is_finite_and_close(datasets: dict[str, Path]) -> None:
    full = _read(datasets["cuda_a"], "/trajectories/fields")
    half = _read(datasets["bf16"], "/trajectories/fields")
    assert np.isfinite(half).all()
    relative = np.linalg.norm(half - full) / np.linalg.norm(full)
    assert relative < 0.1, relative


def test_features_on_cuda_match_cpu_and_are_differentiable() -> None:
    from spinlock.core.features.family import FeatureInputs
    from spinlock.features.api import build_family

    rng = np.random.default_rng(0)
    trajectory = torch.from_numpy(
        rng.normal(size=(4, 3, 8, 2, 16, 16)).astype(np.float32)
    )  # (N, M, T, C, H, W)
    for name in ("summary", "temporal"):
        cpu, _ = extract(name, trajectory=trajectory)
        gpu, _ = extract(name, trajectory=trajectory.cuda())  # computed where the tensor lives
        np.testing.assert_allclose(gpu, cpu, rtol=1e-3, atol=1e-4, err_msg=name)
    x = trajectory.cuda().requires_grad_(True)
    values = build_family("summary").compute(FeatureInputs(trajectory=x))
    values.nan_to_num(0.0).sum().backward()
    assert x.grad is not None and bool(torch.isfinite(x.grad).all()) and float(x.grad.abs().sum()) > 0


def test_tokenizer_trains_on_cuda_with_and_without_compile(tmp_path: Path) -> None:
    from spinlock.vqvae.config import FamiliesConfig, TokenizerConfig, TrainingConfig
    from spinlock.vqvae.data import table_from_arrays
    from spinlock.vqvae.model_config import VQVAEConfig
    from spinlock.vqvae.tokenizer import Tokenizer
    from spinlock.vqvae.training import train_tokenizer

    rng = np.random.default_rng(1)
    latent = rng.normal(size=(400, 3))
    static = {"a": latent @ rng.normal(size=(3, 12)), "b": np.tanh(latent @ rng.normal(size=(3, 8)))}
    names = {f: [f"x{i}" for i in range(v.shape[1])] for f, v in static.items()}
    series = np.repeat(latent[:, None, :2], 5, axis=1).astype(np.float32)
    table = table_from_arrays(static, names, series, ["s0", "s1"])
    for compiled in (False, True):
        config = TokenizerConfig(
            families=FamiliesConfig(static=("a", "b"), temporal="temporal"),
            categories=attrs.evolve(TokenizerConfig().categories, n_categories=2, min_size=2),
            model=VQVAEConfig(codebook_sizes=(6, 4, 4), latent_dim=4, hidden_dims=(32,)),
            training=TrainingConfig(epochs=5, batch_size=64, patience=0, device="cuda", compile=compiled),
        )
        out = tmp_path / f"compiled_{compiled}"
        result = train_tokenizer(table, config, out, config_yaml=dump_config(config, make_converter()))
        ids = result.tokenizer.tokenize(table)
        assert ids.shape == (400, 3, 3)
        np.testing.assert_array_equal(Tokenizer.load(out, "cpu").tokenize(table), ids)
