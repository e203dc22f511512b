"""Benchmark: throughput of sharded generation on a 2-worker Dask LocalCluster against the local executor.

Runs the embedded quick config (``spinlock.core.defaults.quick_config_path()``) three ways, alternating them
in each repeat so that all see the same machine state:

- ``local, 1 thread``: one process, compute plan ``threads=1`` (the plan the Dask workers use);
- ``local, 2 threads``: one process, ``threads=2`` (the in-process alternative on two cores; different bits);
- ``dask, 2 workers``: a LocalCluster of 2 worker processes × 1 thread, ``--shards`` shards, plan
  ``threads=1``, shards merged into one file (merge included in the time). Its dataset is checked to be
  bit-identical to the ``local, 1 thread`` one.

Cluster start-up (spawning workers, importing torch in each) is paid once and reported apart; a warm-up
run on the cluster precedes the timed ones. Prints operators/s (best of ``--repeats``) and the ratios.

Usage: ``python benchmarks/bench_dask_generate.py [--repeats 3] [--workers 2] [--shards 2] [--n 64]
[--device cpu] [--batch-size 16]``
"""

from __future__ import annotations

import argparse
import importlib
import tempfile
import time
from pathlib import Path

import attrs


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--n", type=int, default=0, help="override n_operators (0: the quick config's 64)")
    parser.add_argument("--device", default="cpu", help="cpu, or cuda: every worker shares the one GPU")
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()

    from spinlock.core.config import dump_run_config, load_run_config
    from spinlock.core.defaults import quick_config_path
    from spinlock.core.executors import DaskExecutorConfig, build_executor
    from spinlock.core.plugins import build_plugin_manager
    from spinlock.core.testing import assert_datasets_identical
    from spinlock.operators.generation.pipeline import ComputePlan, generate
    from spinlock.operators.generation.shards import generate_sharded

    manager = build_plugin_manager()
    config = load_run_config(quick_config_path(), manager)
    if args.n:
        config = attrs.evolve(config, n_operators=args.n)
    text = dump_run_config(config, manager)
    plan = {"batch_size": args.batch_size, "device": args.device}
    one, two = ComputePlan(threads=1, **plan), ComputePlan(threads=2, **plan)  # the same plan on a GPU
    dask_name = f"dask, {args.workers} workers"
    times: dict[str, list[float]] = {"local, 1 thread": [], "local, 2 threads": [], dask_name: []}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        generate(config, text, out / "warm.h5", manager, plan=one)  # imports, allocator, caches
        started = time.perf_counter()
        with build_executor(manager, "dask", DaskExecutorConfig(workers=args.workers)) as executor:
            executor.client.run(importlib.import_module, "spinlock.operators.generation.shards")
            startup = time.perf_counter() - started
            generate_sharded(
                config, text, out / "dask_warm.h5", manager, executor, shards=args.shards, plan=one
            )
            for r in range(args.repeats):
                for name in times:
                    target = out / f"{name.replace(', ', '_').replace(' ', '_')}_{r}.h5"
                    begin = time.perf_counter()
                    if name.startswith("dask"):
                        generate_sharded(
                            config, text, target, manager, executor, shards=args.shards, plan=one
                        )
                    else:
                        generate(config, text, target, manager, plan=one if "1 thread" in name else two)
                    times[name].append(time.perf_counter() - begin)
        assert_datasets_identical(out / "local_1_thread_0.h5", out / f"dask_{args.workers}_workers_0.h5")
    n = config.n_operators
    print(
        f"quick config: {n} operators, {config.grid.channels}×{config.grid.height}², T={config.rollout.steps}, "
        f"M={config.rollout.realizations}, inline features; batch size {one.batch_size} on {args.device}; best of {args.repeats}"
    )
    print(
        f"  dask LocalCluster start-up ({args.workers} workers, torch imported): {startup:.1f} s (not timed)"
    )
    rate = {name: n / min(values) for name, values in times.items()}
    for name, value in rate.items():
        print(f"  {name:18s} {min(times[name]):7.2f} s  {value:6.1f} operators/s")
    dask = rate[dask_name]
    print(f"  dask / local 1 thread:  {dask / rate['local, 1 thread']:.2f}×  (same compute plan, same bits)")
    print(f"  dask / local 2 threads: {dask / rate['local, 2 threads']:.2f}×")
    print("  dask dataset bit-identical to local, 1 thread: yes")


if __name__ == "__main__":  # Dask's worker processes are spawned: they must not rerun main()
    main()
