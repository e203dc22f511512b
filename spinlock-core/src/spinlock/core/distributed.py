"""Process groups for data-parallel training under ``torchrun`` (one process per device).

``torchrun --nproc-per-node K`` starts K copies of a command with ``WORLD_SIZE``, ``RANK`` and
``LOCAL_RANK`` (and a rendezvous address) in their environment. :func:`process_group` joins them: gloo on
CPU, nccl on CUDA with device ``cuda:LOCAL_RANK``. Without those variables (a plain ``python`` or
``spinlock`` process) every helper here is a no-op with world size 1 and returns its input unchanged, so a
training loop written with them runs the single-process code path exactly.

The collectives are the few a training loop needs: sums and means of tensors, of Python floats (metrics)
and of flags (a non-finite loss on any rank stops every rank), broadcasts of tensors and plain objects from
rank 0, and an all-gather of row blocks of different lengths (k-means initialisation and dead-code revival
of the VQ-VAE codebooks see the whole global batch). torch is imported inside the functions, so importing
this module costs nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

if TYPE_CHECKING:
    import torch

__all__ = [
    "DistributedContext",
    "all_gather_rows",
    "all_reduce_gradients_",
    "all_reduce_floats",
    "all_reduce_sum_",
    "any_rank",
    "barrier",
    "broadcast_",
    "broadcast_object",
    "current",
    "data_parallel",
    "env_rank",
    "launched",
    "process_group",
]

T = TypeVar("T")

#: the variables torchrun (and ``srun torchrun``) sets for every process it starts
LAUNCH_VARIABLES = ("WORLD_SIZE", "RANK", "LOCAL_RANK")


@attrs.frozen
class DistributedContext:
    """Where this process stands in the job.

    :param rank: global rank in ``[0, world_size)``.
    :param world_size: number of processes (1 without torchrun).
    :param local_rank: rank on this node; selects the GPU ``cuda:local_rank``.
    :param backend: ``gloo``, ``nccl``, or ``None`` when no process group is initialised.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that writes checkpoints and reports progress."""
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        """More than one process takes part."""
        return self.world_size > 1

    def device(self, requested: str) -> torch.device:
        """The device this rank trains on: ``cuda:local_rank`` when ``requested`` is CUDA and a process
        group is up (``cuda:N`` in the config is then overridden: each rank owns one GPU), else
        ``requested``."""
        import torch

        if requested.startswith("cuda") and self.backend is not None:
            return torch.device("cuda", self.local_rank)
        return torch.device(requested)


def launched() -> bool:
    """Whether this process was started by torchrun (its launch variables are set)."""
    return all(name in os.environ for name in LAUNCH_VARIABLES)


def _initialised() -> bool:
    import torch.distributed as dist

    return bool(dist.is_available() and dist.is_initialized())


def current() -> DistributedContext:
    """The context of the initialised process group, or the single-process one."""
    if not _initialised():
        return DistributedContext()
    import torch.distributed as dist

    return DistributedContext(
        rank=dist.get_rank(),
        world_size=dist.get_world_size(),
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
        backend=str(dist.get_backend()),
    )


def env_rank() -> int:
    """The global rank from the environment (0 without torchrun); usable before the group exists."""
    return int(os.environ.get("RANK", "0")) if launched() else 0


@contextmanager
def process_group(device: str = "cpu") -> Iterator[DistributedContext]:
    """Join the torchrun job for the duration of the block; destroy the group at the end.

    Without torchrun's variables this yields the single-process context and does nothing. If a group is
    already initialised (an outer block, or the caller's own), it is used as it is and left alone.

    :param device: the training device of the config: ``cuda…`` selects nccl and ``cuda:LOCAL_RANK``,
        anything else gloo.
    """
    if not launched() or _initialised():
        yield current()
        return
    import torch
    import torch.distributed as dist

    local_rank = int(os.environ["LOCAL_RANK"])
    backend = "nccl" if device.startswith("cuda") else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(local_rank)
        dist.init_process_group(backend, device_id=torch.device("cuda", local_rank))
    else:
        dist.init_process_group(backend)
    try:
        yield current()
    finally:
        dist.destroy_process_group()


def _world() -> int:
    return current().world_size


def barrier() -> None:
    """Wait until every rank gets here."""
    if _world() > 1:
        import torch.distributed as dist

        dist.barrier()


def all_reduce_sum_(tensor: torch.Tensor) -> torch.Tensor:
    """Sum ``tensor`` over ranks in place (every rank gets the sum) and return it."""
    if _world() > 1:
        import torch.distributed as dist

        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def all_reduce_floats(values: Mapping[str, float], *, mean: bool = False) -> dict[str, float]:
    """Sums (or means, with ``mean``) over ranks of named Python floats, e.g. per-epoch metrics.

    Every rank must pass the same keys. With one process the values come back unchanged (no rounding
    through a tensor), which keeps single-process histories exact.
    """
    world = _world()
    if world == 1:
        return dict(values)
    import torch

    keys = sorted(values)
    packed = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=_collective_device())
    all_reduce_sum_(packed)
    if mean:
        packed /= world
    return dict(zip(keys, packed.cpu().tolist(), strict=True))


def any_rank(flag: bool) -> bool:
    """Whether ``flag`` is true on at least one rank (every rank gets the same answer)."""
    if _world() == 1:
        return flag
    import torch

    packed = torch.tensor([1.0 if flag else 0.0], device=_collective_device())
    return bool(all_reduce_sum_(packed).item() > 0)


def broadcast_(tensor: torch.Tensor, src: int = 0) -> torch.Tensor:
    """Overwrite ``tensor`` in place with rank ``src``'s values and return it."""
    if _world() > 1:
        import torch.distributed as dist

        dist.broadcast(tensor, src=src)
    return tensor


def broadcast_object(obj: T, src: int = 0) -> T:
    """Rank ``src``'s ``obj`` on every rank (pickled; use for plain data such as fitted states).

    Only trusted peers of the same job exchange these objects.
    """
    if _world() == 1:
        return obj
    import torch.distributed as dist

    box: list[Any] = [obj]
    dist.broadcast_object_list(box, src=src, device=_collective_device())
    return box[0]


def all_gather_rows(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate every rank's ``(rows_r, ...)`` block in rank order: ``(Σ rows_r, ...)``.

    Blocks may have different numbers of rows (they are padded for the collective and trimmed after).
    """
    world = _world()
    if world == 1:
        return tensor
    import torch
    import torch.distributed as dist

    count = torch.tensor([tensor.shape[0]], dtype=torch.long, device=tensor.device)
    counts = [torch.zeros_like(count) for _ in range(world)]
    dist.all_gather(counts, count)
    sizes = [int(c.item()) for c in counts]
    padded = tensor.new_zeros((max(sizes), *tensor.shape[1:]))
    padded[: tensor.shape[0]] = tensor
    blocks = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(blocks, padded.contiguous())
    return torch.cat([block[:size] for block, size in zip(blocks, sizes, strict=True)])


def all_reduce_gradients_(parameters: Iterable[torch.nn.Parameter]) -> None:
    """Sum the gradients of ``parameters`` over ranks in place, in one flat collective.

    For training steps DistributedDataParallel cannot wrap (a method other than ``forward``, activation
    checkpointing): scale each rank's loss by its share of the global batch, call this after
    ``backward()``, and every rank holds the global batch's gradient. A parameter without a gradient on
    this rank (e.g. a rank with an empty shard) counts as zero and gets one.
    """
    if _world() == 1:
        return
    import torch

    params = [p for p in parameters if p.requires_grad]
    for param in params:
        if param.grad is None:
            param.grad = torch.zeros_like(param)
    grads = [param.grad for param in params if param.grad is not None]
    flat = torch.cat([grad.reshape(-1) for grad in grads])
    all_reduce_sum_(flat)
    offset = 0
    for grad in grads:
        grad.copy_(flat[offset : offset + grad.numel()].view_as(grad))
        offset += grad.numel()


def data_parallel(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``module`` wrapped in DistributedDataParallel (gradients averaged over ranks in the backward pass),
    or ``module`` itself with one process.

    Buffers are not re-broadcast before every forward pass: modules that update buffers in training (the
    VQ-VAE's EMA codebooks) keep them identical with their own collectives.
    """
    if _world() == 1:
        return module
    import inspect

    from torch.nn.parallel import DistributedDataParallel

    # torch 2.13 renamed the switch; older releases (>= 2.4 is supported) only know broadcast_buffers
    parameters = inspect.signature(DistributedDataParallel.__init__).parameters
    sync: dict[str, Any] = (
        {"forward_sync_buffers": False}
        if "forward_sync_buffers" in parameters
        else {"broadcast_buffers": False}
    )
    device_ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=device_ids, **sync)


def _collective_device() -> torch.device:
    """Where small helper tensors live: the rank's GPU under nccl, else the CPU."""
    import torch

    ctx = current()
    if ctx.backend == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")
