"""Benchmark: the CUDA paths against the same machine's CPU, in one run.

1. ``spinlock generate`` on the embedded quick config scaled to ``--n`` operators: operators/s on the CPU
   (all cores) and on CUDA at several batch sizes, with inline features and without (rollout only), so the
   inline-feature overhead on the GPU is read off the same run.
2. Tokenizer training on that dataset's features: epochs/s on CPU, CUDA, and CUDA with ``torch.compile``.
3. The agent's GPU preset (``noa_gpu.yaml``, ~143M parameters): one training update (rollout of ``T``
   states, backward, AdamW step) per batch, in float32 and under bfloat16 autocast, with peak GPU memory.

Usage: ``python benchmarks/bench_gpu.py [--n 1024] [--epochs 20] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import attrs
import torch

from spinlock.core.config import dump_config, load_config, load_run_config, make_converter
from spinlock.core.defaults import quick_config_path
from spinlock.core.plugins import build_plugin_manager
from spinlock.operators.generation.pipeline import ComputePlan, generate


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def generation(out: Path, n: int, batch_sizes: list[int]) -> tuple[list[dict[str, Any]], Path]:
    manager = build_plugin_manager()
    config = attrs.evolve(load_run_config(quick_config_path(), manager), n_operators=n)
    yaml_text = quick_config_path().read_text()
    variants = {"features": config, "rollout only": attrs.evolve(config, features=())}
    runs = [("cpu", 16)] + [("cuda", b) for b in batch_sizes]
    rows: list[dict[str, Any]] = []
    keep = out / "features_cuda.h5"
    warm = attrs.evolve(config, n_operators=64)
    generate(warm, yaml_text, out / "warm_cpu.h5", manager)
    generate(warm, yaml_text, out / "warm_cuda.h5", manager, plan=ComputePlan(batch_size=64, device="cuda"))
    for device, batch in runs:
        row: dict[str, Any] = {"device": device, "batch_size": batch}
        for name, variant in variants.items():
            target = out / f"{name.replace(' ', '_')}_{device}_{batch}.h5"
            _sync()
            start = time.perf_counter()
            generate(variant, yaml_text, target, manager, plan=ComputePlan(batch_size=batch, device=device))
            _sync()
            row[name] = n / (time.perf_counter() - start)
            if name == "features" and device == "cuda" and batch == batch_sizes[-1]:
                keep = target
            else:
                target.unlink()
        row["feature overhead"] = row["rollout only"] / row["features"] - 1.0
        rows.append(row)
        print(
            f"generate {device:>4} batch {batch:>4}: {row['features']:8.1f} op/s with features, "
            f"{row['rollout only']:8.1f} op/s rollout only, inline features +{100 * row['feature overhead']:.0f}%",
            flush=True,
        )
    return rows, keep


def tokenizer_training(dataset: Path, out: Path, epochs: int) -> list[dict[str, Any]]:
    from spinlock.vqvae.config import TokenizerConfig
    from spinlock.vqvae.data import load_table
    from spinlock.vqvae.training import train_tokenizer

    base = TokenizerConfig()
    table = load_table(dataset, base.families.static_families(), base.families.temporal)
    rows = []
    for device, compiled in (("cpu", False), ("cuda", False), ("cuda", True)):
        training = attrs.evolve(base.training, epochs=epochs, patience=0, device=device, compile=compiled)
        config = attrs.evolve(base, training=training)
        target = out / f"tok_{device}_{compiled}"
        _sync()
        start = time.perf_counter()
        result = train_tokenizer(table, config, target, config_yaml=dump_config(config, make_converter()))
        _sync()
        seconds = time.perf_counter() - start
        row = {"device": device, "compile": compiled, "epochs_per_s": len(result.history) / seconds}
        rows.append(row)
        print(
            f"train-vqvae {device:>4} compile={compiled!s:<5}: {row['epochs_per_s']:.2f} epochs/s", flush=True
        )
    return rows


def agent_step(steps: int, repeats: int) -> list[dict[str, Any]]:
    from spinlock.noa.backbone import NOABackbone, parameter_count
    from spinlock.noa.config import NOAConfig, gpu_config_path

    config = load_config(gpu_config_path(), NOAConfig, make_converter())
    t = config.training
    device = torch.device("cuda")
    model = NOABackbone(3, 12, (64, 64), config.backbone).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=t.learning_rate)
    u0 = torch.randn(t.batch_size, 3, 64, 64, device=device)
    theta = torch.rand(t.batch_size, 12, device=device)
    target = torch.randn(t.batch_size, steps, 3, 64, 64, device=device)
    rows = []
    for precision in ("float32", "bfloat16"):
        torch.cuda.reset_peak_memory_stats()
        times = []
        for r in range(repeats + 1):
            _sync()
            start = time.perf_counter()
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=precision == "bfloat16"):
                pred = model.rollout(
                    u0,
                    theta,
                    steps,
                    bptt_window=t.bptt_window,
                    gradient_checkpointing=t.gradient_checkpointing,
                )
                loss = (pred.float() - target).pow(2).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            _sync()
            if r:  # the first update pays for cuDNN/cuFFT plans
                times.append(time.perf_counter() - start)
        row = {
            "precision": precision,
            "parameters": parameter_count(model),
            "batch_size": t.batch_size,
            "states": steps,
            "seconds_per_update": min(times),
            "peak_gib": torch.cuda.max_memory_allocated() / 1024**3,
        }
        rows.append(row)
        print(
            f"NOA preset {row['parameters'] / 1e6:.1f}M params, batch {t.batch_size}, T={steps}, {precision}: "
            f"{row['seconds_per_update'] * 1e3:.0f} ms/update, peak {row['peak_gib']:.1f} GiB",
            flush=True,
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=1024)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[16, 64, 256])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--agent-steps", type=int, default=16)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("bench_gpu.py needs a CUDA device")
    print(
        f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}, {torch.get_num_threads()} CPU threads"
    )
    results: dict[str, Any] = {"device": torch.cuda.get_device_name(), "torch": torch.__version__}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        results["generate"], dataset = generation(out, args.n, args.batch_sizes)
        results["train_vqvae"] = tokenizer_training(dataset, out, args.epochs)
    results["noa_step"] = agent_step(args.agent_steps, repeats=3)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
