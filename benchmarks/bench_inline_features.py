"""Benchmark: what inline feature extraction adds to `spinlock generate` on the embedded quick config.

Runs the quick config in-process, alternating two variants so that both see the same machine state:

- ``rollout only``: the config with an empty ``features`` section (ICs, operators, rollouts, storage);
- ``with features``: the config as shipped (INITIAL, ARCHITECTURE, SUMMARY and TEMPORAL inline).

It prints the best time of each variant, the overhead ``(with - without) / without`` (issue 5's target is
≤ 25 %) in wall time and in the process's CPU time (steadier when other processes share the machine), and the time of each family on the stored trajectories of one run, computed alone (a family run
alone pays for the per-frame statistics that SUMMARY and TEMPORAL share inline).

Usage: ``python benchmarks/bench_inline_features.py [--repeats 3] [--threads 0]``
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import attrs
import torch

from spinlock.core.config import load_run_config
from spinlock.core.defaults import quick_config_path
from spinlock.core.features.family import FeatureInputs
from spinlock.core.plugins import build_plugin_manager
from spinlock.core.registry import ComponentKind
from spinlock.core.storage import open_dataset
from spinlock.operators.generation.pipeline import generate


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    manager = build_plugin_manager()
    path = quick_config_path()
    config = load_run_config(path, manager)
    yaml_text = path.read_text()
    variants = {"rollout only": attrs.evolve(config, features=()), "with features": config}
    best = dict.fromkeys(variants, float("inf"))
    best_cpu = dict.fromkeys(variants, float("inf"))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        generate(variants["rollout only"], yaml_text, out / "warm.h5", manager)  # imports, caches
        for r in range(args.repeats):
            for name, variant in variants.items():
                target = out / f"{name.replace(' ', '_')}_{r}.h5"
                start, start_cpu = time.perf_counter(), time.process_time()
                generate(variant, yaml_text, target, manager)
                best[name] = min(best[name], time.perf_counter() - start)
                best_cpu[name] = min(best_cpu[name], time.process_time() - start_cpu)
        with open_dataset(out / "with_features_0.h5") as reader:
            trajectory = torch.from_numpy(reader.file["trajectories/fields"][...])
            u0 = torch.from_numpy(reader.file["initial_conditions/fields"][...])
    print(
        f"quick config: {config.n_operators} operators, {config.grid.channels}×{config.grid.height}², "
        f"T={config.rollout.steps}, M={config.rollout.realizations}; threads={torch.get_num_threads()}"
    )
    for name, seconds in best.items():
        print(f"  {name:14s} {seconds:7.3f} s  ({config.n_operators / seconds:6.1f} operators/s)")
    overhead = (best["with features"] - best["rollout only"]) / best["rollout only"]
    print(f"  inline extraction overhead: {overhead:.1%} of the rollout-only run (target ≤ 25 %)")
    # CPU time of this process: less sensitive than wall time to other processes on a shared machine
    cpu = (best_cpu["with features"] - best_cpu["rollout only"]) / best_cpu["rollout only"]
    print(
        f"  same in process CPU time: {cpu:.1%} ({best_cpu['rollout only']:.3f} s vs {best_cpu['with features']:.3f} s)"
    )
    print("  each family alone on the stored data:")
    for ref in config.features:
        spec = manager.get(ComponentKind.FEATURE_FAMILY, ref.kind)
        family = spec.build(ref.params)
        times = []
        for _ in range(args.repeats):
            inputs = FeatureInputs(initial_condition=u0, trajectory=trajectory)
            if "parameters" in family.inputs:
                continue
            start = time.perf_counter()
            with torch.inference_mode():
                family.compute(inputs)
            times.append(time.perf_counter() - start)
        if times:
            print(f"    {ref.kind:12s} {min(times) * 1e3:8.1f} ms")


if __name__ == "__main__":
    main()
