"""Shared datasets and a small trained tokenizer for the visualization tests."""

from __future__ import annotations

from pathlib import Path

import attrs
import numpy as np
import pytest
import torch

from spinlock.core.config import dump_config, dump_run_config, load_run_config, make_converter
from spinlock.core.plugins import build_plugin_manager
from spinlock.core.storage import DatasetWriter
from spinlock.core.testing import make_tiny_dataset

#: a small generated run: replay needs real operators (make_tiny_dataset's are random numbers)
GENERATED = """
seed: 3
n_operators: 8
grid: {height: 16, width: 16, channels: 3}
parameter_space:
  num_layers: {type: integer, low: 2, high: 3}
  update_policy: {type: choice, choices: [residual, convex]}
  noise_scale: {type: continuous, low: 1.0e-3, high: 0.1, log: true}
operator: {kind: cnn, params: {base_channels: 4}}
initial_conditions: {grf: {kind: gaussian_random_field}, turing: {kind: turing_pattern}}
rollout: {steps: 6, realizations: 2}
features: [{kind: initial}, {kind: summary}, {kind: temporal}]
storage: {store_trajectories: STORE, trajectory_stride: 2}
"""

N_TOKENIZED = 64


@pytest.fixture(scope="session", autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def generate_small(folder: Path, *, store: bool) -> Path:
    """The GENERATED run, with or without stored trajectories (same operators either way)."""
    from spinlock.operators.generation.pipeline import ComputePlan, generate

    manager = build_plugin_manager(strict=True)
    flag = "true" if store else "false"
    config_path = folder / f"run_{flag}.yaml"
    config_path.write_text(GENERATED.replace("STORE", flag))
    config = load_run_config(config_path, manager)
    out = folder / f"generated_{flag}.h5"
    generate(config, dump_run_config(config, manager), out, manager, plan=ComputePlan(batch_size=4))
    return out


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``{"stored": path, "replay": path}``: the same 8 operators, with and without trajectories."""
    folder = tmp_path_factory.mktemp("generated")
    return {"stored": generate_small(folder, store=True), "replay": generate_small(folder, store=False)}


def _planted(n: int, seed: int = 3) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Two static families following 4 planted behaviours, and a temporal family."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, n)
    latent = rng.normal(0, 3, (4, 3))[labels] + 0.15 * rng.normal(size=(n, 3))
    static = {"alpha": latent @ rng.normal(size=(3, 6)), "beta": np.tanh(latent @ rng.normal(size=(3, 5)))}
    t = np.linspace(0, 1, 4)
    temporal = (latent[:, :2, None] * np.stack([np.sin(3 * t), t**2])[None]).transpose(0, 2, 1)
    return static, temporal.astype(np.float32)


def tokenizer_config() -> object:
    from spinlock.vqvae.config import FamiliesConfig, TokenizerConfig, TrainingConfig
    from spinlock.vqvae.model_config import VQVAEConfig

    return TokenizerConfig(
        families=FamiliesConfig(static=("alpha", "beta"), temporal="temporal"),
        categories=attrs.evolve(TokenizerConfig().categories, n_categories=2, min_size=2, linkage="average"),
        model=VQVAEConfig(codebook_sizes=(4, 3, 3), latent_dim=3, hidden_dims=(16,)),
        training=TrainingConfig(epochs=4, batch_size=32, patience=0, validation_fraction=0.25),
    )


@pytest.fixture(scope="session")
def tokenized(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny dataset with trajectories, planted features, a trained tokenizer and ``/tokens/vqvae``.

    ``{"dataset": D.h5, "model": folder}``.
    """
    from typer.testing import CliRunner

    from spinlock.core.cli.app import build_app

    folder = tmp_path_factory.mktemp("tokenized")
    path = make_tiny_dataset(folder / "d.h5", n=N_TOKENIZED, size=8, steps=4, realizations=2)
    static, temporal = _planted(N_TOKENIZED)
    with DatasetWriter.open_for_extraction(path) as writer:
        for family, values in static.items():
            writer.replace_features(family, [f"x{i}" for i in range(values.shape[1])], "1.0", "test")
            writer.write_features(family, np.arange(N_TOKENIZED), values.astype(np.float32))
        writer.replace_features("temporal", ["sin", "square"], "1.0", "test", per_timestep_T=4)
        writer.write_features("temporal", np.arange(N_TOKENIZED), temporal)
    config = folder / "tok.yaml"
    config.write_text(dump_config(tokenizer_config(), make_converter()))
    model = folder / "model"
    app = build_app()
    runner = CliRunner()
    out = runner.invoke(app, ["train-vqvae", "-d", str(path), "-o", str(model), "-c", str(config), "-q"])
    assert out.exit_code == 0, out.output
    out = runner.invoke(app, ["tokenize", "-m", str(model), "-d", str(path)])
    assert out.exit_code == 0, out.output
    return {"dataset": path, "model": model}
