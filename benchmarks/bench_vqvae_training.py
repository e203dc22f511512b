"""Benchmark: tokenizer training time, against a plain autoencoder of the same shape in the same run.

Trains the hierarchical VQ-VAE with the embedded defaults for ``--epochs`` epochs on a dataset's
INITIAL + SUMMARY + TEMPORAL features (``--dataset``; e.g. 2,048 operators of the quick config generated
with ``store_trajectories: false``), then times the *reference*: the same per-category encoder and decoder
MLPs and the same temporal GRU, trained with the same batches and optimizer but with no quantizer (a plain
autoencoder). The ratio shows what the codebooks (EMA updates, k-means start, dead-code revival, prefix
reconstructions) cost on top of the networks themselves.

Usage: ``python benchmarks/bench_vqvae_training.py --dataset big.h5 [--epochs 100] [--threads 0]``
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch

from spinlock.core.config import dump_config, make_converter
from spinlock.vqvae.config import TokenizerConfig
from spinlock.vqvae.data import load_table
from spinlock.vqvae.report import tokenizer_metrics
from spinlock.vqvae.training import train_tokenizer


def plain_autoencoder_seconds(tokenizer, table, config: TokenizerConfig, epochs: int) -> float:  # type: ignore[no-untyped-def]
    """Train the model's encoders and decoders without quantization (latents go straight to decoders)."""
    import numpy as np

    model = type(tokenizer.model).from_constructor_args(tokenizer.model.constructor_args())
    static, temporal = tokenizer.inputs(table)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.training.learning_rate)
    n, b = static.shape[0], config.training.batch_size
    start = time.perf_counter()
    for epoch in range(epochs):
        order = torch.from_numpy(np.random.default_rng(epoch).permutation(n))
        for i in range(0, n, b):
            idx = order[i : i + b]
            t = None if temporal is None else temporal[idx]
            latents = model.encode(static[idx], t)
            rec_s, rec_t = model.decode(latents, None if t is None else t.shape[1])
            loss = ((rec_s - static[idx]) ** 2).mean()
            if rec_t is not None and t is not None:
                loss = loss + ((rec_t - t) ** 2).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    import attrs

    config = TokenizerConfig()
    config = attrs.evolve(config, training=attrs.evolve(config.training, epochs=args.epochs, patience=0))
    table = load_table(args.dataset, config.families.static_families(), config.families.temporal)
    with tempfile.TemporaryDirectory() as tmp:
        result = train_tokenizer(table, config, tmp, config_yaml=dump_config(config, make_converter()))
    metrics = tokenizer_metrics(result.tokenizer, table, result.validation_index)
    reference = plain_autoencoder_seconds(
        result.tokenizer, table.take(result.train_index), config, args.epochs
    )
    print(
        f"VQ-VAE on {len(table)} samples ({len(result.train_index)} train), {args.epochs} epochs, "
        f"threads={torch.get_num_threads()}"
    )
    print(f"  tokenizer training (incl. cleaning, categories) {result.seconds:8.1f} s")
    print(f"  plain autoencoder, same networks and batches     {reference:8.1f} s")
    print(f"  ratio VQ-VAE / plain autoencoder                 {result.seconds / reference:8.2f}")
    rec = metrics["reconstruction"]
    print(
        f"  held-out R² static {rec['overall']:.3f}, temporal {rec.get('temporal') or float('nan'):.3f} "
        f"(time mean {rec.get('temporal_time_mean') or float('nan'):.3f}); "
        f"coarse perplexity ≥ {metrics['coarse_perplexity_min_share']:.0%} of the codebook size; "
        f"{len(metrics['codebooks'])} categories"
    )


if __name__ == "__main__":
    main()
