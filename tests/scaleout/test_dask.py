"""The `dask` executor on a 2-worker LocalCluster (processes): same dataset as the local executor, also when a
worker is killed mid-shard, and without redoing the shards that were already complete."""

from __future__ import annotations

import importlib
import json
import os
import signal
import threading
import time
from pathlib import Path

import h5py
import pytest

from spinlock.core.executors import DaskExecutorConfig, build_executor
from spinlock.core.storage import open_dataset
from spinlock.core.testing import assert_datasets_identical
from spinlock.operators.generation.pipeline import ComputePlan
from spinlock.operators.generation.shards import generate_sharded, shard_directory

distributed = pytest.importorskip("distributed")

#: one operator per batch so that a shard takes a while and shows progress batch by batch
PLAN = ComputePlan(batch_size=1, threads=1)
LONGER = {"n_operators: 16": "n_operators: 32", "steps: 5": "steps: 16"}


@pytest.fixture(scope="module")
def cluster():
    """Two single-threaded worker processes; a task survives up to 3 worker deaths."""
    import dask

    with dask.config.set({"distributed.scheduler.allowed-failures": 3}):
        cluster = distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        )
    client = distributed.Client(cluster)
    try:
        # import torch and the pipeline on both workers now rather than inside the first timed shard
        client.run(importlib.import_module, "spinlock.operators.generation.shards")
        yield cluster, client
    finally:
        client.close()
        cluster.close()


@pytest.fixture(scope="module")
def longer_run(tiny, tmp_path_factory):
    """A config a bit longer than the tiny one, and its single-process dataset (the local executor's)."""
    text = tiny.text
    for old, new in LONGER.items():
        text = text.replace(old, new)
    directory = tmp_path_factory.mktemp("longer")
    config_path = tiny.write(directory, text)
    reference = directory / "local.h5"
    with build_executor(tiny.manager, "local") as local:
        config, yaml_text = tiny.load(config_path)
        generate_sharded(config, yaml_text, reference, tiny.manager, local, shards=1, plan=PLAN)
    return config_path, reference


def run_on_dask(tiny, config_path: Path, out: Path, address: str, **kwargs):
    config, yaml_text = tiny.load(config_path)
    with build_executor(tiny.manager, "dask", DaskExecutorConfig(address=address)) as executor:
        assert executor.parallelism == 2
        return generate_sharded(config, yaml_text, out, tiny.manager, executor, shards=4, plan=PLAN, **kwargs)


def test_two_worker_cluster_writes_the_local_executors_dataset(tiny, cluster, longer_run, tmp_path):
    config_path, reference = longer_run
    out = tmp_path / "dask.h5"
    summary = run_on_dask(tiny, config_path, out, cluster[0].scheduler_address)
    assert summary.operators_written == 32
    assert_datasets_identical(reference, out)
    assert not shard_directory(out).exists()  # removed after the merge


def test_generate_command_runs_on_a_scheduler_address(cluster, tiny_config, reference, tmp_path):
    from typer.testing import CliRunner

    from spinlock.core.cli import build_app

    out = tmp_path / "cli.h5"
    args = ["generate", "-c", str(tiny_config), "-o", str(out), "--batch-size", "2", "--threads", "1", "-q"]
    args += ["--executor", "dask", "--scheduler", cluster[0].scheduler_address, "--json"]
    result = CliRunner().invoke(build_app(), args)
    assert result.exit_code == 0, result.output
    assert '"written": 16' in result.stdout
    assert_datasets_identical(reference, out)


def shard_progress(path: Path) -> tuple[int, int] | None:
    """(done, samples) of a shard file being written by a worker, or ``None`` while it cannot be read."""
    try:
        with h5py.File(path, "r", locking=False) as f:
            if "shard" not in f.attrs:
                return None
            samples = int(json.loads(f.attrs["shard"])["samples"])
            return int(f["progress/done"][...].sum()), samples
    except (OSError, KeyError, IndexError, ValueError):
        return None


def test_killing_a_worker_mid_shard_still_gives_the_same_dataset(tiny, cluster, longer_run, tmp_path):
    local_cluster, client = cluster
    config_path, reference = longer_run
    out = tmp_path / "dask.h5"
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["summary"] = run_on_dask(
                tiny, config_path, out, local_cluster.scheduler_address, keep_shards=True
            )
        except BaseException as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=run)
    worker.start()
    directory = shard_directory(out)
    victim = None
    completed: dict[Path, int] = {}
    deadline = time.monotonic() + 90
    while victim is None and time.monotonic() < deadline and worker.is_alive():
        progress = {p: shard_progress(p) for p in sorted(directory.glob("shard-*.h5"))}
        completed = {p: p.stat().st_mtime_ns for p, pr in progress.items() if pr and pr[0] == pr[1] > 0}
        # early in a shard (at most half done), so that it is still running when the kill lands
        partial = [p for p, pr in progress.items() if pr and 0 < pr[0] <= pr[1] // 2]
        if completed and partial:
            index = int(partial[0].name.split("-")[1])
            for address, keys in client.processing().items():
                if any(str(k).startswith(f"shard {index}/4 ") for k in keys):
                    running = [str(k) for k in keys if str(k).startswith(f"shard {index}/4 ")]
                    victim = (partial[0], address, running[0])
        time.sleep(0.02)
    assert victim is not None, f"never saw a partly written shard after a complete one ({outcome})"
    path, address, key = victim
    pid = client.run(os.getpid, workers=[address])[address]
    os.kill(pid, signal.SIGKILL)
    worker.join(timeout=240)
    assert not worker.is_alive()
    assert "error" not in outcome, outcome.get("error")

    assert_datasets_identical(reference, out)
    with open_dataset(path) as shard:  # the killed shard was finished on another worker
        assert shard.done().sum() == shard.shard["samples"] > 0
    for done_path, mtime in completed.items():  # complete shards were not written again
        assert done_path.stat().st_mtime_ns == mtime
    # The scheduler's record: every shard task finished exactly once, the killed one after a reschedule, and
    # the complete ones were never handed to a worker again (their futures were released, so the death of the
    # worker that held their results asks for no recomputation).
    run_keys = transitions(local_cluster.scheduler, key[-10:])
    assert len(run_keys) == 4 and all(states.count("memory") == 1 for states in run_keys.values()), run_keys
    assert run_keys[key].count("processing") >= 2
    for done_path in completed:
        index = int(done_path.name.split("-")[1])
        (states,) = [v for k, v in run_keys.items() if k.startswith(f"shard {index}/4 ")]
        assert states.count("processing") == 1, states


def transitions(scheduler, run_id: str) -> dict[str, list[str]]:
    """Task key → the states it entered, for the shard tasks of one run (keys end with its ``[id]``)."""
    out: dict[str, list[str]] = {}
    for transition in scheduler.transition_log:
        key, finish = str(transition[0]), transition[2]
        if key.startswith("shard ") and key.endswith(run_id):
            out.setdefault(key, []).append(finish)
    return out


@pytest.mark.slow
def test_generate_command_starts_its_own_local_cluster(tiny_config, reference, tmp_path):
    """`--executor dask --workers 2` without an address: the executor starts (and stops) a LocalCluster."""
    import subprocess
    import sys

    out = tmp_path / "own.h5"
    args = ["generate", "-c", str(tiny_config), "-o", str(out), "--batch-size", "2", "--threads", "1", "-q"]
    args += ["--executor", "dask", "--workers", "2"]
    code = "from spinlock.core.cli import main; main()"
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert_datasets_identical(reference, out)
