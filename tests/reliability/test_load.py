"""Issue 10 (7), the fast half: a generation of many tiny operators keeps flat memory.

The 10^4-operator run and its timings live in ``benchmarks/bench_load.py`` (no timing is asserted here). This
runs 512 operators through the real pipeline and checks that resident memory after the first 64 operators
no longer grows with the number of operators written.
"""

from __future__ import annotations

import gc
import textwrap
from pathlib import Path

import psutil
import pytest

from spinlock.core.config import RunConfig, dump_run_config, loads_config, make_converter
from spinlock.core.plugins import build_plugin_manager
from spinlock.core.storage import open_dataset
from spinlock.operators.generation.pipeline import ComputePlan, generate
from spinlock.operators.generation.progress import NullProgress

MIB = 1024**2


class RssPerBlock(NullProgress):
    """Resident memory each time another ``block`` operators are written."""

    def __init__(self, block: int) -> None:
        self.block = block
        self.count = 0
        self.rss: list[int] = []
        self._process = psutil.Process()

    def advance(self, n: int) -> None:
        self.count += n
        if self.count // self.block > (self.count - n) // self.block:
            gc.collect()
            self.rss.append(self._process.memory_info().rss)


def _config(n: int) -> str:
    return textwrap.dedent(
        f"""
        seed: 3
        n_operators: {n}
        grid: {{height: 16, width: 16, channels: 1}}
        parameter_space:
          num_layers: {{type: integer, low: 2, high: 3}}
          noise_scale: {{type: continuous, low: 1.0e-3, high: 0.05, log: true}}
        operator: {{kind: cnn, params: {{base_channels: 4}}}}
        initial_conditions: {{grf: {{kind: gaussian_random_field}}}}
        rollout: {{steps: 16, realizations: 2}}
        features: [{{kind: initial}}]
        storage: {{store_trajectories: true}}
        """
    )


@pytest.mark.parametrize("n", [512, pytest.param(4096, marks=pytest.mark.slow)])
def test_memory_stays_flat_over_a_long_generation(tmp_path: Path, n: int) -> None:
    manager = build_plugin_manager(strict=True)
    config = loads_config(_config(n), RunConfig, make_converter(manager.components), "load test")
    recorder = RssPerBlock(64)
    out = tmp_path / "load.h5"
    summary = generate(
        config,
        dump_run_config(config, manager),
        out,
        manager,
        plan=ComputePlan(batch_size=16),
        progress=recorder,
    )
    assert summary.operators_written == n
    with open_dataset(out) as d:
        assert d.done().all()
    # trajectories alone are 32 KiB per operator: keeping them would add 14 MiB (126 MiB for 4096) here
    assert len(recorder.rss) == n // 64
    growth = recorder.rss[-1] - recorder.rss[0]
    assert growth < 8 * MIB, [round(r / MIB, 1) for r in recorder.rss]
