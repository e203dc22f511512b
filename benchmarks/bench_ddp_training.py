"""Epochs per second of VQ-VAE training: torchrun K=2 (1 thread each) vs K=1 (1 thread) vs one plain
process with 2 threads, on the same dataset and config, in one run.

usage: python benchmarks/bench_ddp_training.py [--n 4096] [--epochs 4]

Each variant trains the same tokenizer config from scratch (see tests/distributed/_vqvae_worker.py for the
worker); epochs/s is taken from the training loop's own timing (``TrainResult.seconds``), so interpreter
and torch start-up are excluded. The ratio K=2 / K=1 is the data-parallel speed-up.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

WORKER = """
import json, os, sys, time, torch
from spinlock.core.config import dump_config, loads_config, make_converter
from spinlock.vqvae.config import TokenizerConfig
from spinlock.vqvae.data import load_table
from spinlock.vqvae.training import train_tokenizer
torch.set_num_threads(int(sys.argv[4]))
text = '''
families: {static: [summary], temporal: temporal}
categories: {n_categories: 1, min_size: 1}
model: {codebook_sizes: [16, 16], latent_dim: 4, hidden_dims: [64, 64], temporal_hidden: 32}
training: {epochs: EPOCHS, batch_size: 256, validation_fraction: 0.1, patience: 0}
'''.replace("EPOCHS", sys.argv[3])
config = loads_config(text, TokenizerConfig, make_converter(), "bench")
table = load_table(sys.argv[1], ("summary",), "temporal")
r = train_tokenizer(table, config, sys.argv[2], config_yaml=dump_config(config, make_converter()), dataset=sys.argv[1])
if int(os.environ.get("RANK", "0")) == 0:
    print(json.dumps({"seconds": r.seconds, "epochs": len(r.history)}))
"""


def run(command: list[str], threads: int) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    return result["epochs"] / result["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=4096)
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()
    from spinlock.core.testing import make_tiny_dataset

    torchrun = shutil.which("torchrun")
    assert torchrun, "torchrun is not installed"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = make_tiny_dataset(root / "d.h5", n=args.n, size=8, steps=32, with_trajectories=False)
        worker = root / "worker.py"
        worker.write_text(WORKER)
        common = [str(data)]
        variants = {
            "plain, 2 threads": (
                [sys.executable, str(worker), *common, str(root / "a"), str(args.epochs), "2"],
                2,
            ),
            "torchrun K=1, 1 thread": (
                [
                    torchrun,
                    "--standalone",
                    "--nproc-per-node",
                    "1",
                    str(worker),
                    *common,
                    str(root / "b"),
                    str(args.epochs),
                    "1",
                ],
                1,
            ),
            "torchrun K=2, 1 thread each": (
                [
                    torchrun,
                    "--standalone",
                    "--nproc-per-node",
                    "2",
                    str(worker),
                    *common,
                    str(root / "c"),
                    str(args.epochs),
                    "1",
                ],
                1,
            ),
        }
        rates = {}
        for name, (command, threads) in variants.items():
            rates[name] = run(command, threads)
            print(f"{name:30s} {rates[name]:7.3f} epochs/s", flush=True)
    k1, k2 = rates["torchrun K=1, 1 thread"], rates["torchrun K=2, 1 thread each"]
    print(f"K=2 / K=1: {k2 / k1:.2f}×;  K=2 / plain 2 threads: {k2 / rates['plain, 2 threads']:.2f}×")


if __name__ == "__main__":
    main()
