"""Data-parallel training under torchrun (gloo, CPU): K=1 equals a plain run bit for bit, K=2 keeps every
rank's weights and codebooks identical and writes checkpoints the normal loaders read; the CLI runs under
torchrun; the HDF5 Datasets give the same batches with DataLoader workers as without."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest
import torch

from spinlock.core import distributed
from spinlock.core.batching import GlobalBatchSampler, make_loader
from spinlock.core.storage import open_dataset
from spinlock.core.testing import make_tiny_dataset

HERE = Path(__file__).parent
TORCHRUN = shutil.which("torchrun") or ""
needs_torchrun = pytest.mark.skipif(not TORCHRUN, reason="torchrun is not installed")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in distributed.LAUNCH_VARIABLES}
    return {**env, "OMP_NUM_THREADS": "1", "SPINLOCK_STRICT_PLUGINS": "1"}


def _run(args: list[str], cwd: Path, timeout: int = 240) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{args}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr[-4000:]}"
    return done


def _torchrun(k: int, *args: str) -> list[str]:
    return [TORCHRUN, "--standalone", "--nproc-per-node", str(k), *args]


def _digests(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(folder.glob("rank*.json"))]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_dataset(tmp_path_factory.mktemp("ddp") / "tiny.h5", n=65, size=8, steps=6)


@pytest.fixture(scope="module")
def runs(tiny: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The worker script trained plainly, under torchrun with one rank, and with two ranks."""
    root = tmp_path_factory.mktemp("runs")
    worker = str(HERE / "_vqvae_worker.py")
    commands = {
        "plain": [sys.executable, worker],
        "k1": _torchrun(1, worker),
        "k2": _torchrun(2, worker),
    }
    for name, command in commands.items():
        if name != "plain" and not TORCHRUN:
            continue
        _run([*command, str(tiny), str(root / name), str(root / f"{name}_digests")], root)
    return dict.fromkeys(commands, root)


def _load(runs: dict[str, Path], name: str) -> list[dict[str, Any]]:
    return _digests(runs[name] / f"{name}_digests")


@needs_torchrun
def test_one_rank_under_torchrun_equals_a_plain_run_bit_for_bit(runs: dict[str, Path]) -> None:
    (plain,), (k1,) = _load(runs, "plain"), _load(runs, "k1")
    assert k1["world_size"] == 1
    assert k1["weights"] == plain["weights"] and k1["codebooks"] == plain["codebooks"]
    assert k1["history"] == plain["history"]


@needs_torchrun
def test_two_ranks_keep_identical_weights_and_codebooks(runs: dict[str, Path], tiny: Path) -> None:
    from spinlock.vqvae.data import load_table
    from spinlock.vqvae.tokenizer import Tokenizer

    ranks = _load(runs, "k2")
    assert [r["world_size"] for r in ranks] == [2, 2]
    assert ranks[0]["codebooks"] == ranks[1]["codebooks"]
    assert ranks[0]["weights"] == ranks[1]["weights"]
    assert ranks[0]["history"] == ranks[1]["history"]
    # the same optimisation as one process (global batch split, gradients and EMA statistics summed):
    # only rounding differs
    (plain,) = _load(runs, "plain")
    for a, b in zip(ranks[0]["history"], plain["history"], strict=True):
        assert a.keys() == b.keys()
        for key in a:
            assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-6), key
    # rank 0's checkpoint loads with the normal loader and tokenizes
    tokenizer = Tokenizer.load(runs["k2"] / "k2")
    table = load_table(tiny, ("summary",), "temporal")
    ids = tokenizer.tokenize(table)
    assert ids.shape == (len(table), len(tokenizer.category_names), 2) and ids.min() >= 0
    assert len(json.loads((runs["k2"] / "k2" / "history.json").read_text())) == 3


def test_global_batches_are_split_across_ranks_without_changing_them() -> None:
    positions = np.arange(10, 47)
    one = GlobalBatchSampler(positions, 8, seed=3, merge_small_tail=True)
    shards = [
        GlobalBatchSampler(positions, 8, 3, rank=r, world_size=3, merge_small_tail=True) for r in range(3)
    ]
    for epoch in (0, 5):
        for sampler in (one, *shards):
            sampler.set_epoch(epoch)
        whole = [list(b) for b in one]
        parts = [list(s) for s in shards]
        assert all(len(p) == len(whole) for p in parts)  # every rank takes the same number of steps
        for step, batch in enumerate(whole):
            assert [i for p in parts for i in p[step]] == batch
            assert max(len(p[step]) for p in parts) - min(len(p[step]) for p in parts) <= 1
        assert sorted(i for b in whole for i in b) == positions.tolist()
    assert [len(b) for b in one.global_batches(0)] == [8, 8, 8, 8, 5]
    merged = GlobalBatchSampler(np.arange(33), 8, seed=0, merge_small_tail=True)
    assert [len(b) for b in merged.global_batches(0)] == [8, 8, 8, 9]  # a tail of 1 < 8 // 4 is folded in
    with pytest.raises(ValueError, match="global batch"):
        GlobalBatchSampler(positions, 2, 0, rank=0, world_size=3, min_shard=1).global_batches(0)


def test_helpers_are_no_ops_in_a_single_process() -> None:
    ctx = distributed.current()
    assert (ctx.rank, ctx.world_size, ctx.is_main, ctx.is_distributed) == (0, 1, True, False)
    x = torch.arange(4.0)
    assert distributed.all_reduce_sum_(x) is x and distributed.all_gather_rows(x) is x
    assert distributed.all_reduce_floats({"a": 0.1}, mean=True) == {"a": 0.1}
    assert distributed.broadcast_object({"k": [1]}) == {"k": [1]} and distributed.any_rank(False) is False
    module = torch.nn.Linear(2, 2)
    assert distributed.data_parallel(module, torch.device("cpu")) is module
    with distributed.process_group() as inside:
        assert inside == ctx


def _fitted_feature_dataset(path: Path) -> tuple[Any, Any]:
    from spinlock.vqvae.config import FamiliesConfig, TokenizerConfig
    from spinlock.vqvae.data import load_table, split_indices
    from spinlock.vqvae.dataset import FeatureDataset, FeatureTransform
    from spinlock.vqvae.training import fit_preprocessing

    config = TokenizerConfig(
        families=FamiliesConfig(static=("summary",), temporal="temporal"),
        categories=attrs.evolve(TokenizerConfig().categories, n_categories=1, min_size=1),
    )
    table = load_table(path, ("summary",), "temporal")
    train, _ = split_indices(len(table), 0.25, 0)
    cleaner, _, scaler, _ = fit_preprocessing(table, config, train)
    dataset = FeatureDataset(path, ("summary",), "temporal", table.rows, FeatureTransform(cleaner, scaler))
    expected = (cleaner.transform(table.static), scaler.transform(table.temporal))  # type: ignore[union-attr,arg-type]
    return dataset, expected


def _epoch(dataset: Any, workers: int, positions: np.ndarray) -> list[Any]:
    sampler = GlobalBatchSampler(positions, 7, seed=1, merge_small_tail=True)
    loader = make_loader(dataset, sampler, num_workers=workers)
    out = []
    for epoch in (0, 1):  # persistent workers follow the sampler's epoch
        sampler.set_epoch(epoch)
        out += [(sampler_batch, batch) for sampler_batch, batch in zip(list(sampler), loader, strict=True)]
    return out


def test_feature_dataset_gives_the_same_batches_with_workers(tiny: Path) -> None:
    dataset, (static, temporal) = _fitted_feature_dataset(tiny)
    positions = np.arange(len(dataset))
    with_workers = _epoch(dataset, 2, positions)
    assert not dataset.reader.is_open and dataset.reader._reader is None  # never opened before the fork
    in_process = _epoch(dataset, 0, positions)
    assert dataset.reader.is_open
    for (index, a), (_, b) in zip(with_workers, in_process, strict=True):
        assert torch.equal(a.static, b.static) and torch.equal(a.temporal, b.temporal)
        # the per-batch cleaning equals cleaning the whole table at once
        np.testing.assert_array_equal(a.static.numpy(), static[index])
        np.testing.assert_array_equal(a.temporal.numpy(), temporal[index])
    one = dataset[3]
    assert one.static.shape == (static.shape[1],) and one.temporal.shape == temporal.shape[1:]
    clone = pickle.loads(pickle.dumps(dataset))  # the open handle stays behind
    assert not clone.reader.is_open and torch.equal(clone[3].static, one.static)
    dataset.close()


def test_trajectory_dataset_gives_the_same_batches_with_workers(tmp_path: Path) -> None:
    from spinlock.noa.dataset import TrajectoryDataset

    path = make_tiny_dataset(tmp_path / "t.h5", n=12, size=8, steps=4, realizations=3)
    rows = np.array([0, 2, 3, 5, 7, 8, 9, 10])
    dataset = TrajectoryDataset(path, rows)
    with_workers = _epoch(dataset, 2, np.arange(len(rows)))
    assert not dataset.reader.is_open
    in_process = _epoch(dataset, 0, np.arange(len(rows)))
    with open_dataset(path) as reader:
        stored = reader.trajectories(rows)
        theta = reader.unit_parameters(rows)
    assert stored is not None
    mean = torch.from_numpy(np.asarray(stored, dtype=np.float32)).mean(dim=1)
    for (index, a), (_, b) in zip(with_workers, in_process, strict=True):
        for x, y in zip(a, b, strict=True):
            assert torch.equal(x, y)
        assert a.positions.tolist() == index
        assert torch.equal(a.target, mean[index])
        np.testing.assert_array_equal(a.theta.numpy(), theta[index].astype(np.float32))
    dataset.close()


# ----------------------------------------------------------------------------------- CLI: VQ-VAE → NOA

RUN = """
seed: 5
n_operators: 16
grid: {height: 16, width: 16, channels: 2}
parameter_space:
  num_layers: {type: integer, low: 1, high: 2}
  alpha: {type: continuous, low: 0.4, high: 0.95}
operator: {kind: cnn, params: {base_channels: 4, weight_scale: 0.2}}
initial_conditions: {grf: {kind: gaussian_random_field}}
rollout: {steps: 4, realizations: 2, policy: convex}
features: [{kind: initial}, {kind: summary}, {kind: temporal}]
storage: {store_trajectories: true}
"""

TOKENIZER = """
families: {static: [initial, summary], temporal: temporal}
categories: {n_categories: 2, min_size: 2, linkage: average}
model: {codebook_sizes: [4, 4], latent_dim: 4, hidden_dims: [16], temporal_hidden: 8}
training: {epochs: 2, batch_size: 12, patience: 0, validation_fraction: 0.0, num_workers: 1}
"""

AGENT = """
backbone: {base_channels: 4, encoder_levels: 2, afno_blocks: 1, modes: 2, num_blocks: 4, film_hidden: 16}
training: {epochs: 1, batch_size: 4, learning_rate: 0.02, validation_fraction: 0.25}
"""


@needs_torchrun
@pytest.mark.slow
def test_cli_trains_tokenizer_and_agent_under_torchrun(tmp_path: Path) -> None:
    from spinlock.core.config import dump_run_config, load_run_config
    from spinlock.core.plugins import build_plugin_manager
    from spinlock.noa.predict import load_agent
    from spinlock.operators.generation.pipeline import ComputePlan, generate
    from spinlock.vqvae.tokenizer import Tokenizer

    manager = build_plugin_manager(strict=True)
    (tmp_path / "run.yaml").write_text(RUN)
    config = load_run_config(tmp_path / "run.yaml", manager)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        generate(
            config,
            dump_run_config(config, manager),
            tmp_path / "d.h5",
            manager,
            plan=ComputePlan(batch_size=8),
        )
    finally:
        torch.set_num_threads(threads)
    (tmp_path / "tok.yaml").write_text(TOKENIZER)
    (tmp_path / "agent.yaml").write_text(AGENT)
    # both launch forms: the module and the console script
    vq = _run(
        _torchrun(
            2, "-m", "spinlock.core.cli", "train-vqvae", "-d", "d.h5", "-o", "tok", "-c", "tok.yaml", "-q"
        ),
        tmp_path,
    )
    assert vq.stdout.count("token categories") == 1  # rank 1 stays quiet
    Tokenizer.load(tmp_path / "tok")
    spinlock = shutil.which("spinlock")
    assert spinlock
    noa = _run(
        _torchrun(
            2,
            spinlock,
            "train-noa",
            "-d",
            "d.h5",
            "--vqvae",
            "tok",
            "-o",
            "agent",
            "-c",
            "agent.yaml",
            "-q",
            "--json",
        ),
        tmp_path,
    )
    summary = json.loads(noa.stdout)  # one JSON document: only rank 0 prints
    assert summary["epochs_run"] == 1
    load_agent(tmp_path / "agent")
