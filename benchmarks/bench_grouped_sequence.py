"""Benchmark: the grouped TEMPORAL sequence models against one plain PyTorch model per category, same run.

Times a training step (forward, backward, AdamW step) of the TEMPORAL encoder and decoder of
:mod:`spinlock.vqvae.sequence` for G categories, against the *reference*: a ``ModuleList`` of one
``nn.GRU`` (or ``nn.Conv1d`` stack) encoder and decoder per category, with the same sizes, run one category
after the other. The default partition is the 16 TEMPORAL categories discovered on the benchmark dataset
(72 columns, 32 steps); ``--groups N`` uses N near-equal groups instead.

Usage: ``python benchmarks/bench_grouped_sequence.py [--kind gru|conv] [--hidden 16] [--threads 1]``
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence

import torch
from torch import nn

from spinlock.vqvae.model_config import derived_latent_dim
from spinlock.vqvae.sequence import (
    GroupedConvDecoder,
    GroupedConvEncoder,
    GroupedGRUDecoder,
    GroupedGRUEncoder,
    time_channel,
)

#: TEMPORAL category sizes found on the 4,096-operator benchmark dataset (72 columns)
BENCHMARK_SIZES = (3, 4, 4, 4, 4, 4, 3, 3, 3, 7, 3, 3, 9, 6, 3, 9)


class _PlainGRU(nn.Module):
    """One ``nn.GRU`` encoder and decoder per group, run in turn."""

    def __init__(self, groups: Sequence[Sequence[int]], hidden: int, latents: Sequence[int]) -> None:
        super().__init__()
        self.groups = [list(g) for g in groups]
        self.encoders = nn.ModuleList(nn.GRU(len(g), hidden, batch_first=True) for g in groups)
        self.heads = nn.ModuleList(nn.Linear(hidden, z) for z in latents)
        self.initial = nn.ModuleList(nn.Linear(z, hidden) for z in latents)
        self.decoders = nn.ModuleList(nn.GRU(z + 1, hidden, batch_first=True) for z in latents)
        self.outputs = nn.ModuleList(nn.Linear(hidden, len(g)) for g in groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, steps, _ = x.shape
        out = torch.empty_like(x)
        tau = time_channel(steps, x).view(1, steps, 1).expand(batch, steps, 1)
        for g, columns in enumerate(self.groups):
            _, state = self.encoders[g](x[:, :, columns])
            z = self.heads[g](state[-1])
            initial = torch.tanh(self.initial[g](z)).unsqueeze(0)
            inputs = torch.cat([z.unsqueeze(1).expand(batch, steps, z.shape[1]), tau], 2)
            decoded, _ = self.decoders[g](inputs, initial)
            out[:, :, columns] = self.outputs[g](decoded)
        return out


class _PlainConv(nn.Module):
    """One convolutional encoder and decoder per group (the grouped model with a single group each)."""

    def __init__(
        self, groups: Sequence[Sequence[int]], features: int, hidden: int, latents: Sequence[int]
    ) -> None:
        super().__init__()
        self.groups = [list(g) for g in groups]
        self.encoders = nn.ModuleList(
            GroupedConvEncoder([list(range(len(g)))], len(g), hidden, [z], 1, 5, "gelu")
            for g, z in zip(groups, latents, strict=True)
        )
        self.decoders = nn.ModuleList(
            GroupedConvDecoder([list(range(len(g)))], len(g), hidden, [z], 1, 5, "gelu")
            for g, z in zip(groups, latents, strict=True)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.empty_like(x)
        for g, columns in enumerate(self.groups):
            latent = self.encoders[g](x[:, :, columns])
            out[:, :, columns] = self.decoders[g](latent, x.shape[1])
        return out


class _Grouped(nn.Module):
    def __init__(self, encoder: nn.Module, decoder: nn.Module) -> None:
        super().__init__()
        self.encoder, self.decoder = encoder, decoder

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x), x.shape[1])  # type: ignore[no-any-return]


def _step_seconds(model: nn.Module, x: torch.Tensor, repeats: int) -> float:
    optimizer = torch.optim.AdamW(model.parameters())

    def step() -> None:
        loss = (model(x) - x).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    for _ in range(3):
        step()
    start = time.perf_counter()
    for _ in range(repeats):
        step()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kind", choices=["gru", "conv"], default="gru")
    parser.add_argument(
        "--groups", type=int, default=0, help="N near-equal groups of 72 columns (0: benchmark)"
    )
    parser.add_argument("--hidden", type=int, default=16)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sizes: Sequence[int] = (
        BENCHMARK_SIZES
        if args.groups == 0
        else [len(part) for part in torch.arange(72).tensor_split(args.groups)]
    )
    groups, start = [], 0
    for size in sizes:
        groups.append(list(range(start, start + size)))
        start += size
    features, latents = start, [derived_latent_dim(size) for size in sizes]
    torch.manual_seed(0)
    x = torch.randn(args.batch, args.steps, features)
    hidden = args.hidden
    if args.kind == "gru":
        grouped = _Grouped(
            GroupedGRUEncoder(groups, features, hidden, latents, 1),
            GroupedGRUDecoder(groups, features, hidden, latents, 1),
        )
        plain: nn.Module = _PlainGRU(groups, hidden, latents)
    else:
        grouped = _Grouped(
            GroupedConvEncoder(groups, features, hidden, latents, 1, 5, "gelu"),
            GroupedConvDecoder(groups, features, hidden, latents, 1, 5, "gelu"),
        )
        plain = _PlainConv(groups, features, hidden, latents)
    timings: dict[str, Callable[[], float]] = {
        "grouped": lambda: _step_seconds(grouped, x, args.repeats),
        "one model per category": lambda: _step_seconds(plain, x, args.repeats),
    }
    results = {name: run() for name, run in timings.items()}
    print(
        f"TEMPORAL {args.kind}, {len(groups)} categories of {features} columns, batch {args.batch}, "
        f"{args.steps} steps, hidden {hidden}, threads {torch.get_num_threads()}"
    )
    for name, seconds in results.items():
        print(f"  {name:24s} {seconds * 1e3:8.1f} ms per training step")
    print(f"  ratio per-category / grouped {results['one model per category'] / results['grouped']:8.2f}")


if __name__ == "__main__":
    main()
