"""Vector quantizers with EMA codebooks: one level (:class:`EMAQuantizer`) and a residual stack
(:class:`ResidualQuantizer`).

**Training rule.** The codebook is a buffer, never an optimiser parameter: it moves only by exponential
moving averages of the encoder outputs assigned to each code (van den Oord et al. 2017, appendix; Razavi et
al. 2019).
The only VQ loss term is the commitment loss ``β · mean((z_e − sg(z_q))²)``, whose gradient reaches the
encoder alone. The decoder sees the codeword through the straight-through estimator
``z_e + sg(z_q − z_e)``, so its gradient reaches the encoder unchanged.

**Collapse guards.** The codebook starts from k-means (greedy k-means++ seeds, then Lloyd iterations) on the
first training batch. A code whose EMA cluster size falls below ``dead_code_threshold`` is re-seeded from an
encoder output of the current batch, drawn k-means++-style with probability ∝ its squared distance to the
nearest live code (so new codes go where the batch is served worst, e.g. two clusters sharing one code), and
its EMA state is reset to match. Usage is reported as perplexity (``exp`` of the entropy of code
frequencies), never as "codes seen at least once", which hides collapse onto a few codes.

**EMA warm-up.** Early in training the encoder moves faster than a γ = 0.99 average can follow (its lag is
about the encoder's drift per step × 1/(1 − γ)), and stale codes then swap or merge clusters. As in
TensorFlow's ``ExponentialMovingAverage(num_updates=...)``, the decay of update ``t`` is
``min(γ, (1 + t) / (10 + t))``: 0.1 at first, 0.9 after 80 updates, γ from about 900 on.

Every random draw (k-means seeds, revived rows) comes from torch's default generator of the input's device,
so training is deterministic given ``torch.manual_seed``.

**Data-parallel training** (``torchrun``, see :mod:`spinlock.core.distributed`): the batch counts and sums
of the EMA update are summed over ranks, and k-means and dead-code revival draw from the rows of all ranks'
shards, so each update is that of the global batch; rank 0's state is then broadcast, so the codebooks are
identical on every rank. With one process all of this is a no-op. Statistics are one-hot matrix products rather than
scatter-adds, which keeps them deterministic on GPUs as well.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple, cast

import torch
import torch.nn.functional as F
from torch import nn

from spinlock.core import distributed

__all__ = [
    "EMAQuantizer",
    "QuantizerOutput",
    "ResidualQuantizer",
    "ResidualQuantizerOutput",
    "kmeans",
    "perplexity",
]


class QuantizerOutput(NamedTuple):
    """What :class:`EMAQuantizer` returns.

    :param quantized: ``(batch, dim)`` the chosen codewords with the straight-through gradient of the input.
    :param codes: ``(batch,)`` long, the index of the nearest code.
    :param commitment_loss: scalar, ``β · mean((z_e − sg(z_q))²)``.
    :param perplexity: scalar (no gradient), ``exp`` of the entropy of the code frequencies in this batch:
        1 when every row takes the same code, ``codebook_size`` when the codes are used uniformly.
    """

    quantized: torch.Tensor
    codes: torch.Tensor
    commitment_loss: torch.Tensor
    perplexity: torch.Tensor


class ResidualQuantizerOutput(NamedTuple):
    """What :class:`ResidualQuantizer` returns.

    :param quantized: ``(batch, dim)`` the sum of the codewords of all levels, with the straight-through
        gradient of the input (the identity, counted once, not once per level).
    :param codes: ``(batch, levels)`` long, coarse level first.
    :param commitment_loss: scalar, the sum over levels of each level's commitment loss on its residual.
    :param perplexity: ``(levels,)`` batch perplexity of each level (no gradient).
    :param codewords: ``(batch, levels, dim)`` the codeword chosen at each level (no gradient); the
        cumulative sum over levels is the reconstruction at each depth.
    """

    quantized: torch.Tensor
    codes: torch.Tensor
    commitment_loss: torch.Tensor
    perplexity: torch.Tensor
    codewords: torch.Tensor


def perplexity(codes: torch.Tensor, codebook_size: int) -> torch.Tensor:
    """``exp`` of the entropy of the frequencies of ``codes`` (any shape, long) over ``codebook_size`` codes;
    a scalar tensor without gradient."""
    counts = F.one_hot(codes.reshape(-1), codebook_size).sum(0).to(torch.float32)
    return _perplexity_of_counts(counts)


def _perplexity_of_counts(counts: torch.Tensor) -> torch.Tensor:
    p = counts / counts.sum().clamp(min=torch.finfo(counts.dtype).tiny)
    entropy = -(p * torch.log(p.clamp(min=torch.finfo(p.dtype).tiny))).sum()
    return torch.exp(entropy).detach()


def _squared_distances(x: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """``(n, k)`` squared Euclidean distances between rows of ``x (n, d)`` and ``centres (k, d)``."""
    return (x.pow(2).sum(1, keepdim=True) - 2.0 * x @ centres.T + centres.pow(2).sum(1).unsqueeze(0)).clamp(
        min=0.0
    )


def _cluster_statistics(
    x: torch.Tensor, assignment: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Counts ``(k,)`` and sums ``(k, d)`` of the rows of ``x`` assigned to each cluster."""
    onehot = F.one_hot(assignment, k).to(x.dtype)
    return onehot.sum(0), onehot.T @ x


def _greedy_seeds(data: torch.Tensor, nearest: torch.Tensor, count: int) -> list[int]:
    """Greedy k-means++ (as scikit-learn's): ``count`` rows of ``data (n, d)`` chosen one at a time, each the
    best of a few candidates drawn with probability ∝ squared distance to the nearest centre so far
    (``nearest (n,)``), "best" meaning the one that lowers the total of those distances most."""
    trials = 2 + int(math.log(max(count, 1)))
    chosen: list[int] = []
    for _ in range(count):
        total = float(nearest.sum())
        if total > 0.0:
            candidates = torch.multinomial(nearest / total, trials, replacement=True)
        else:  # every row already coincides with a centre
            candidates = torch.randint(data.shape[0], (trials,), device=data.device)
        potentials = torch.minimum(nearest.unsqueeze(0), _squared_distances(data[candidates], data))
        best = int(potentials.sum(1).argmin())
        chosen.append(int(candidates[best]))
        nearest = potentials[best]
    return chosen


@torch.no_grad()
def kmeans(data: torch.Tensor, k: int, iterations: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    """k-means of ``data (n, d)`` into ``k`` clusters: greedy k-means++ seeds, then ``iterations`` Lloyd
    steps.

    With fewer distinct rows than ``k``, some centres coincide; an empty cluster keeps its previous centre.
    Random draws come from torch's default generator on ``data``'s device.

    :returns: centres ``(k, d)`` and the number of rows assigned to each ``(k,)`` (float, data's dtype).
    """
    if data.ndim != 2 or data.shape[0] == 0:
        raise ValueError(f"kmeans needs a non-empty (rows, features) matrix, got shape {tuple(data.shape)}")
    if k < 1:
        raise ValueError(f"kmeans needs k >= 1, got {k}")
    first = int(torch.randint(data.shape[0], (1,), device=data.device))
    nearest = _squared_distances(data, data[first].unsqueeze(0)).squeeze(1)
    chosen = [first, *_greedy_seeds(data, nearest, k - 1)]
    centres = data[chosen].clone()
    for _ in range(iterations):
        counts, sums = _cluster_statistics(data, _squared_distances(data, centres).argmin(1), k)
        centres = torch.where(counts.unsqueeze(1) > 0, sums / counts.clamp(min=1.0).unsqueeze(1), centres)
    counts, _ = _cluster_statistics(data, _squared_distances(data, centres).argmin(1), k)
    return centres, counts


class EMAQuantizer(nn.Module):
    """One vector-quantisation level with an EMA codebook.

    Input ``(batch, dim)``; see :class:`QuantizerOutput`. In training mode a forward pass (1) initialises the
    codebook by k-means on its input if that has not happened yet, (2) assigns each row to its nearest code,
    (3) updates the EMA state and the codebook, (4) re-seeds dead codes. In eval mode nothing changes.

    EMA state, with decay γ, batch counts ``c_k`` and batch sums ``s_k`` of the rows assigned to code ``k``::

        n_k ← γ n_k + (1 − γ) c_k          (buffer ``cluster_size``)
        m_k ← γ m_k + (1 − γ) s_k          (buffer ``embed_sum``)
        e_k = m_k / ñ_k,  ñ_k = (n_k + ε) / (Σn + K ε) · Σn     (Laplace smoothing; buffer ``codebook``)

    ``n_k`` is in rows per batch, and so is ``dead_code_threshold``: a code that receives on average fewer
    rows per batch than the threshold is re-seeded with ``e_k = x``, ``n_k = threshold`` and
    ``m_k = threshold · x``, so the next average starts from the new code; ``x`` is a row of the batch drawn
    with probability ∝ its squared distance to the nearest live code (greedy k-means++).

    :param codebook_size: number of codes ``K``.
    :param dim: dimension of the vectors.
    :param commitment_weight: β of the commitment loss (encoder side).
    :param decay: EMA decay γ in (0, 1).
    :param eps: Laplace smoothing ε > 0.
    :param dead_code_threshold: EMA cluster size below which a code is re-seeded; 0 turns revival off.
    :param kmeans_init: initialise the codebook by k-means on the first training batch (otherwise it starts
        from a standard normal draw and relies on revival).
    :param kmeans_iterations: Lloyd iterations of that initialisation.
    :param ema_warmup: use the decay ``min(decay, (1 + t) / (10 + t))`` at update ``t`` (see the module
        docstring); the count ``t`` is the buffer ``updates``.
    """

    codebook: torch.Tensor
    cluster_size: torch.Tensor
    embed_sum: torch.Tensor
    initialised: torch.Tensor
    updates: torch.Tensor

    def __init__(
        self,
        codebook_size: int,
        dim: int,
        *,
        commitment_weight: float = 0.25,
        decay: float = 0.99,
        eps: float = 1e-5,
        dead_code_threshold: float = 1.0,
        kmeans_init: bool = True,
        kmeans_iterations: int = 10,
        ema_warmup: bool = True,
    ) -> None:
        super().__init__()
        if codebook_size < 1:
            raise ValueError(f"'codebook_size' must be >= 1: {codebook_size}")
        if dim < 1:
            raise ValueError(f"'dim' must be >= 1: {dim}")
        if commitment_weight < 0:
            raise ValueError(f"'commitment_weight' must be >= 0: {commitment_weight}")
        if not 0.0 < decay < 1.0:
            raise ValueError(f"'decay' must be in (0, 1): {decay}")
        if eps <= 0:
            raise ValueError(f"'eps' must be > 0: {eps}")
        if dead_code_threshold < 0:
            raise ValueError(f"'dead_code_threshold' must be >= 0: {dead_code_threshold}")
        if kmeans_iterations < 0:
            raise ValueError(f"'kmeans_iterations' must be >= 0: {kmeans_iterations}")
        self.codebook_size = codebook_size
        self.dim = dim
        self.commitment_weight = commitment_weight
        self.decay = decay
        self.eps = eps
        self.dead_code_threshold = dead_code_threshold
        self.kmeans_init = kmeans_init
        self.kmeans_iterations = kmeans_iterations
        self.ema_warmup = ema_warmup
        codebook = torch.randn(codebook_size, dim)
        self.register_buffer("codebook", codebook)
        self.register_buffer("cluster_size", torch.ones(codebook_size))
        self.register_buffer("embed_sum", codebook.clone())
        self.register_buffer("initialised", torch.tensor(not kmeans_init))
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))

    def extra_repr(self) -> str:
        return (
            f"codebook_size={self.codebook_size}, dim={self.dim}, "
            f"commitment_weight={self.commitment_weight}, "
            f"decay={self.decay}, dead_code_threshold={self.dead_code_threshold}"
        )

    def forward(self, z: torch.Tensor) -> QuantizerOutput:
        """Quantise ``z (batch, dim)``; see :class:`QuantizerOutput`."""
        if z.ndim != 2 or z.shape[1] != self.dim:
            raise ValueError(f"EMAQuantizer expects (batch, {self.dim}), got shape {tuple(z.shape)}")
        if z.shape[0] == 0:
            raise ValueError("EMAQuantizer got an empty batch")
        flat = z.detach().to(self.codebook.dtype)
        if self.training and not bool(self.initialised):
            self._initialise(flat)
        codes = self.nearest(flat)
        z_q = self.codebook.index_select(0, codes).to(z.dtype)  # a copy: the EMA step below writes in place
        if self.training:
            self._ema_step(flat, codes)
        commitment = self.commitment_weight * F.mse_loss(z, z_q)
        quantized = z + (z_q - z).detach()
        return QuantizerOutput(quantized, codes, commitment, perplexity(codes, self.codebook_size))

    def nearest(self, z: torch.Tensor) -> torch.Tensor:
        """``(batch,)`` long: the index of the code nearest to each row of ``z (batch, dim)``."""
        return _squared_distances(z.to(self.codebook.dtype), self.codebook).argmin(1)

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        """The codewords ``(*codes.shape, dim)`` of long ``codes`` (no gradient)."""
        if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= self.codebook_size):
            raise ValueError(
                f"codes must lie in [0, {self.codebook_size}), got [{codes.min()}, {codes.max()}]"
            )
        return F.embedding(codes, self.codebook)

    @torch.no_grad()
    def set_codebook(self, codebook: torch.Tensor, cluster_size: float | torch.Tensor = 1.0) -> None:
        """Replace the codebook ``(codebook_size, dim)`` and make the EMA state consistent with it
        (``n_k = cluster_size``, ``m_k = n_k · e_k``); marks the quantizer initialised."""
        if tuple(codebook.shape) != (self.codebook_size, self.dim):
            raise ValueError(
                f"codebook must have shape ({self.codebook_size}, {self.dim}), got {tuple(codebook.shape)}"
            )
        sizes = torch.as_tensor(cluster_size, dtype=self.cluster_size.dtype, device=self.cluster_size.device)
        sizes = sizes.expand(self.codebook_size)
        self.codebook.copy_(codebook)
        self.cluster_size.copy_(sizes)
        self.embed_sum.copy_(self.codebook * sizes.unsqueeze(1))
        self.initialised.fill_(True)

    def current_decay(self) -> float:
        """The decay of the next EMA update: ``min(decay, (1 + t) / (10 + t))`` after ``t`` updates with
        ``ema_warmup``, else ``decay``."""
        if not self.ema_warmup:
            return self.decay
        steps = int(self.updates)
        return min(self.decay, (1.0 + steps) / (10.0 + steps))

    def ema_perplexity(self) -> torch.Tensor:
        """Perplexity of the EMA cluster sizes: long-run code usage, as opposed to one batch's."""
        return _perplexity_of_counts(self.cluster_size.clamp(min=0.0))

    @torch.no_grad()
    def _initialise(self, flat: torch.Tensor) -> None:
        # under DDP every rank clusters the whole global batch; rank 0's result is the one kept
        centres, counts = kmeans(
            distributed.all_gather_rows(flat), self.codebook_size, self.kmeans_iterations
        )
        self.set_codebook(distributed.broadcast_(centres), distributed.broadcast_(counts))

    @torch.no_grad()
    def _ema_step(self, flat: torch.Tensor, codes: torch.Tensor) -> None:
        counts, sums = _cluster_statistics(flat, codes, self.codebook_size)
        # under DDP the statistics are those of the global batch, so every rank makes the same update
        distributed.all_reduce_sum_(counts)
        distributed.all_reduce_sum_(sums)
        decay = self.current_decay()
        self.cluster_size.mul_(decay).add_(counts, alpha=1.0 - decay)
        self.embed_sum.mul_(decay).add_(sums, alpha=1.0 - decay)
        self.updates.add_(1)
        total = self.cluster_size.sum()
        smoothed = (self.cluster_size + self.eps) / (total + self.codebook_size * self.eps) * total
        self.codebook.copy_(self.embed_sum / smoothed.unsqueeze(1))
        self._sync_state()
        self._revive_dead_codes(flat)

    @torch.no_grad()
    def _revive_dead_codes(self, flat: torch.Tensor) -> None:
        if self.dead_code_threshold <= 0:
            return
        dead = self.cluster_size < self.dead_code_threshold
        n_dead = int(dead.sum())
        if n_dead == 0:
            return
        # under DDP the candidates are the rows of the global batch (identical on every rank)
        candidates = distributed.all_gather_rows(flat)
        live = ~dead
        if bool(live.any()):
            nearest = _squared_distances(candidates, self.codebook[live]).min(1).values
        else:
            nearest = torch.ones(candidates.shape[0], dtype=candidates.dtype, device=candidates.device)
        picks = _greedy_seeds(candidates, nearest, n_dead)
        samples = candidates[picks]
        self.codebook[dead] = samples
        self.cluster_size[dead] = self.dead_code_threshold
        self.embed_sum[dead] = samples * self.dead_code_threshold
        self._sync_state()

    @torch.no_grad()
    def _sync_state(self) -> None:
        """Under DDP, make rank 0's EMA state everyone's: the updates are already identical, this only
        guards against a rank drifting by rounding."""
        if distributed.current().is_distributed:
            for buffer in (self.codebook, self.cluster_size, self.embed_sum):
                distributed.broadcast_(buffer)


class ResidualQuantizer(nn.Module):
    """A stack of :class:`EMAQuantizer` levels, coarse first, each quantising what the coarser ones left.

    With input ``z (batch, dim)``, level ``l`` quantises the residual ``r_l = z − Σ_{j<l} e_j`` (``e_j`` the
    codeword chosen at level ``j``), so later levels refine the earlier ones and the sum ``Σ e_l`` approaches
    ``z`` as levels are added. Each level's commitment loss is taken on its own residual; all of them pull
    the encoder. See :class:`ResidualQuantizerOutput`.

    :param codebook_sizes: codes per level, coarse first (at least one level).
    :param dim: dimension of the vectors.

    The keyword arguments are those of :class:`EMAQuantizer`, shared by every level.
    """

    def __init__(
        self,
        codebook_sizes: Sequence[int],
        dim: int,
        *,
        commitment_weight: float = 0.25,
        decay: float = 0.99,
        eps: float = 1e-5,
        dead_code_threshold: float = 1.0,
        kmeans_init: bool = True,
        kmeans_iterations: int = 10,
        ema_warmup: bool = True,
    ) -> None:
        super().__init__()
        sizes = [int(size) for size in codebook_sizes]
        if not sizes:
            raise ValueError("ResidualQuantizer needs at least one level in 'codebook_sizes'")
        self.codebook_sizes = tuple(sizes)
        self.dim = dim
        self.levels = nn.ModuleList(
            EMAQuantizer(
                size,
                dim,
                commitment_weight=commitment_weight,
                decay=decay,
                eps=eps,
                dead_code_threshold=dead_code_threshold,
                kmeans_init=kmeans_init,
                kmeans_iterations=kmeans_iterations,
                ema_warmup=ema_warmup,
            )
            for size in sizes
        )

    @property
    def quantizers(self) -> list[EMAQuantizer]:
        """The levels, coarse first."""
        return [cast(EMAQuantizer, level) for level in self.levels]

    @property
    def n_levels(self) -> int:
        return len(self.levels)

    def forward(self, z: torch.Tensor) -> ResidualQuantizerOutput:
        """Quantise ``z (batch, dim)`` level by level; see :class:`ResidualQuantizerOutput`."""
        if z.ndim != 2 or z.shape[1] != self.dim:
            raise ValueError(f"ResidualQuantizer expects (batch, {self.dim}), got shape {tuple(z.shape)}")
        residual = z
        codes, losses, perplexities, codewords = [], [], [], []
        for quantizer in self.quantizers:
            out = quantizer(residual)
            codeword = out.quantized.detach()
            residual = residual - codeword
            codes.append(out.codes)
            losses.append(out.commitment_loss)
            perplexities.append(out.perplexity)
            codewords.append(codeword)
        stacked = torch.stack(codewords, 1)
        total = stacked.sum(1)
        return ResidualQuantizerOutput(
            quantized=z + (total - z).detach(),
            codes=torch.stack(codes, 1),
            commitment_loss=torch.stack(losses).sum(),
            perplexity=torch.stack(perplexities),
            codewords=stacked,
        )

    def decode_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """``(batch, dim)``: the sum of the codewords of ``codes (batch, levels)`` (no gradient)."""
        if codes.ndim != 2 or codes.shape[1] != self.n_levels:
            raise ValueError(f"codes must have shape (batch, {self.n_levels}), got {tuple(codes.shape)}")
        return torch.stack(
            [quantizer.lookup(codes[:, level]) for level, quantizer in enumerate(self.quantizers)], 0
        ).sum(0)
