"""The sampling stage of a run: slices equal a full draw, quality is measured, dead dimensions warned."""

from __future__ import annotations

import json

import numpy as np
import pytest

from spinlock.core.config import RunConfig, SamplerRef
from spinlock.core.sampling.configs import RandomConfig
from spinlock.core.sampling.draw import DeadDimensionWarning, draw_parameters
from spinlock.core.sampling.parameter_space import ChoiceParameter, ContinuousParameter, IntegerParameter

SPACE = {
    "layers": IntegerParameter(low=2, high=5),
    "scale": ContinuousParameter(low=1e-3, high=1.0, log=True),
    "policy": ChoiceParameter(choices=("residual", "convex"), weights=(0.75, 0.25)),
}


def test_full_draw_maps_every_column_and_measures_quality(isolated_plugin_manager):
    config = RunConfig(n_operators=64, seed=3, parameter_space=SPACE)
    draw = draw_parameters(config, isolated_plugin_manager.components)
    assert draw.names == ("layers", "scale", "policy")
    assert draw.unit.shape == (64, 3)
    assert np.bincount(draw.values["layers"] - 2).tolist() == [16, 16, 16, 16]
    assert (draw.values["policy"] == "residual").sum() == 48
    assert draw.quality is not None and draw.quality.n_points == 64
    assert json.dumps(draw.space)


@pytest.mark.parametrize("sampler", [SamplerRef("sobol"), SamplerRef("random", RandomConfig())])
def test_slices_equal_the_full_draw(isolated_plugin_manager, sampler):
    from spinlock.core.sampling.configs import SobolConfig

    if sampler.kind == "sobol":
        sampler = SamplerRef("sobol", SobolConfig())
    config = RunConfig(n_operators=32, seed=11, parameter_space=SPACE, sampling=sampler)
    full = draw_parameters(config, isolated_plugin_manager.components)
    part = draw_parameters(config, isolated_plugin_manager.components, start=8, n=16)
    assert np.array_equal(part.unit, full.unit[8:24])
    assert part.quality is None
    with pytest.raises(ValueError, match="outside"):
        draw_parameters(config, isolated_plugin_manager.components, start=30, n=4)


def test_seed_changes_points(isolated_plugin_manager):
    a = draw_parameters(
        RunConfig(n_operators=16, seed=1, parameter_space=SPACE), isolated_plugin_manager.components
    )
    b = draw_parameters(
        RunConfig(n_operators=16, seed=2, parameter_space=SPACE), isolated_plugin_manager.components
    )
    assert not np.array_equal(a.unit, b.unit)


def test_dead_dimension_warns(isolated_plugin_manager):
    config = RunConfig(n_operators=16, parameter_space={**SPACE, "act": ChoiceParameter(choices=("gelu",))})
    with pytest.warns(DeadDimensionWarning, match="'act'"):
        draw_parameters(config, isolated_plugin_manager.components)


def test_empty_space_draws_nothing(isolated_plugin_manager):
    draw = draw_parameters(RunConfig(n_operators=4), isolated_plugin_manager.components)
    assert draw.unit.shape == (4, 0) and draw.quality is None


def test_sample_command(tmp_path):
    from typer.testing import CliRunner

    from spinlock.core.cli import build_app

    path = tmp_path / "run.yaml"
    path.write_text(
        "n_operators: 32\nparameter_space: {k: {type: integer, low: 0, high: 3}, act: {type: choice, choices: [gelu]}}\n"
    )
    result = CliRunner().invoke(build_app(), ["sample", str(path), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["shares"]["k"] == {"0": 0.25, "1": 0.25, "2": 0.25, "3": 0.25}
    assert payload["quality"]["n_points"] == 32
    assert "consumes a unit-cube dimension" in result.stderr
    empty = tmp_path / "empty.yaml"
    empty.write_text("n_operators: 4\n")
    assert CliRunner().invoke(build_app(), ["sample", str(empty)]).exit_code == 2
