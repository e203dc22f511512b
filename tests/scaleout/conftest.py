"""Tiny runs for the scale-out tests: configs, the single-process reference dataset, and helpers.

Test modules here cannot import this file (pytest's importlib mode), so the helpers come as the ``tiny``
fixture.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from spinlock.core.config import RunConfig, dump_run_config, load_run_config
from spinlock.core.plugins import PluginManager, build_plugin_manager
from spinlock.operators.generation.pipeline import ComputePlan, GenerationSummary, generate

# 16 operators in 8 batches of 2; operators are grouped by depth, so batches are not contiguous index ranges.
TINY = """
seed: 5
n_operators: 16
grid: {height: 16, width: 16, channels: 2}
parameter_space:
  num_layers: {type: integer, low: 2, high: 3}
  dropout_rate: {type: continuous, low: 0.0, high: 0.3}
  update_policy: {type: choice, choices: [residual, convex, autoregressive]}
  noise_scale: {type: continuous, low: 1.0e-3, high: 0.1, log: true}
operator: {kind: cnn, params: {base_channels: 4}}
initial_conditions:
  grf: {kind: gaussian_random_field, params: {length_scale: 0.1}, weight: 3}
  front: {kind: reaction_front}
rollout: {steps: 5, realizations: 2, noise: {type: laplace, correlation_length: 1.5}}
storage: {store_trajectories: true, trajectory_stride: 2}
"""
FEATURES = "features: [{kind: initial}, {kind: architecture}, {kind: summary}, {kind: temporal}]\n"


class TinyRun:
    """Helpers shared by the scale-out tests."""

    text = TINY
    with_features = TINY + FEATURES
    #: one thread, so Dask workers (one thread each) compute exactly what this process computes
    plan = ComputePlan(batch_size=2, threads=1)

    def __init__(self, manager: PluginManager) -> None:
        self.manager = manager

    def write(self, directory: Path, text: str = TINY, name: str = "tiny.yaml") -> Path:
        path = directory / name
        path.write_text(text)
        return path

    def load(self, path: Path) -> tuple[RunConfig, str]:
        config = load_run_config(path, self.manager)
        return config, dump_run_config(config, self.manager)

    def generate(self, config_path: Path, out: Path, **kwargs: Any) -> GenerationSummary:
        config, text = self.load(config_path)
        kwargs.setdefault("plan", self.plan)
        return generate(config, text, out, self.manager, **kwargs)


@pytest.fixture(scope="session")
def manager() -> PluginManager:
    return build_plugin_manager(strict=True)


@pytest.fixture(scope="session")
def tiny(manager: PluginManager) -> TinyRun:
    return TinyRun(manager)


@pytest.fixture(scope="session")
def tiny_config(tiny: TinyRun, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny.write(tmp_path_factory.mktemp("config"))


@pytest.fixture(scope="session")
def reference(tiny: TinyRun, tiny_config: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny run generated in one process with ``tiny.plan``."""
    out = tmp_path_factory.mktemp("reference") / "reference.h5"
    tiny.generate(tiny_config, out)
    return out
