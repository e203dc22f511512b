"""Load benchmark: a long generation through the real pipeline keeps flat memory and constant per-operator time.

Generates ``--n`` tiny operators (default 10^4: CNN, one channel on 16×16, T = 16 states × M = 2 realizations,
trajectories stored, inline features off unless ``--features``) with ``spinlock.operators.generation.pipeline.
generate`` into one HDF5 file, and records, every ``--block`` operators, the process's resident memory (psutil)
and the wall time of that block. Reported: peak RSS (``getrusage``), RSS growth between the end of the first
block and the end of the last, and the per-operator time of the first and last block with their ratio (≈ 1.0
when nothing accumulates). Run with ``OMP_NUM_THREADS=1 python benchmarks/bench_load.py [--n N] [--features]``.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import textwrap
import time
import warnings
from pathlib import Path

import psutil

from spinlock.core.config import RunConfig, dump_run_config, loads_config, make_converter
from spinlock.core.plugins import build_plugin_manager
from spinlock.operators.generation.pipeline import ComputePlan, generate
from spinlock.operators.generation.progress import NullProgress


def config_text(n: int, features: bool) -> str:
    families = "[{kind: initial}, {kind: summary}, {kind: temporal}]" if features else "[]"
    return textwrap.dedent(
        f"""
        seed: 3
        n_operators: {n}
        grid: {{height: 16, width: 16, channels: 1}}
        parameter_space:
          num_layers: {{type: integer, low: 2, high: 3}}
          noise_scale: {{type: continuous, low: 1.0e-3, high: 0.05, log: true}}
        operator: {{kind: cnn, params: {{base_channels: 4}}}}
        initial_conditions: {{grf: {{kind: gaussian_random_field}}, front: {{kind: reaction_front}}}}
        rollout: {{steps: 16, realizations: 2}}
        features: {families}
        storage: {{store_trajectories: true}}
        """
    )


class BlockRecorder(NullProgress):
    """Per block of operators: wall seconds and resident memory at its end."""

    def __init__(self, block: int) -> None:
        self.block = block
        self.count = 0
        self.marks: list[tuple[int, float, int]] = []  # (operators done, time, rss)
        self._process = psutil.Process()

    def start(self, total: int, already_done: int) -> None:
        self.marks = [(0, time.perf_counter(), self._process.memory_info().rss)]

    def advance(self, n: int) -> None:
        self.count += n
        if self.count // self.block > (self.count - n) // self.block:
            self.marks.append((self.count, time.perf_counter(), self._process.memory_info().rss))

    def per_operator_ms(self) -> list[float]:
        return [
            1e3 * (t1 - t0) / (n1 - n0)
            for (n0, t0, _), (n1, t1, _) in zip(self.marks, self.marks[1:], strict=False)
        ]


def peak_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # Linux reports KiB


def run(n: int, block: int, features: bool, batch_size: int, directory: Path) -> BlockRecorder:
    manager = build_plugin_manager(strict=True)
    config = loads_config(config_text(n, features), RunConfig, make_converter(manager.components), "bench")
    recorder = BlockRecorder(block)
    generate(
        config,
        dump_run_config(config, manager),
        directory / "load.h5",
        manager,
        plan=ComputePlan(batch_size=batch_size),
        progress=recorder,
    )
    return recorder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="operators (default 10^4)")
    parser.add_argument("--block", type=int, default=1000, help="operators per measured block")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--features", action="store_true", help="inline INITIAL, SUMMARY and TEMPORAL")
    parser.add_argument(
        "--dir", type=Path, default=None, help="where to write the dataset (default: a temp dir)"
    )
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message=".*not a power of two")  # 10^4 is the size asked for
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        began = time.perf_counter()
        recorder = run(args.n, args.block, args.features, args.batch_size, Path(tmp))
        seconds = time.perf_counter() - began
        size = (Path(tmp) / "load.h5").stat().st_size
    per_op = recorder.per_operator_ms()
    rss = [mark[2] for mark in recorder.marks]
    mib = 1024**2
    print(
        f"{args.n} operators, 16x16, T=16, M=2, batch {args.batch_size}, "
        f"inline features {'on' if args.features else 'off'}: {seconds:.1f} s, file {size / mib:.1f} MiB"
    )
    print(f"peak RSS            {peak_rss_bytes() / mib:8.1f} MiB")
    print(f"RSS after block 1   {rss[1] / mib:8.1f} MiB")
    print(f"RSS after last      {rss[-1] / mib:8.1f} MiB  (growth {(rss[-1] - rss[1]) / mib:+.1f} MiB)")
    print(f"per operator, first {per_op[0]:8.2f} ms")
    print(f"per operator, last  {per_op[-1]:8.2f} ms  (last/first {per_op[-1] / per_op[0]:.2f})")
    print("per block (ms/op):  " + " ".join(f"{v:.2f}" for v in per_op))
    print("RSS per block (MiB): " + " ".join(f"{r / mib:.0f}" for r in rss[1:]))


if __name__ == "__main__":
    main()
