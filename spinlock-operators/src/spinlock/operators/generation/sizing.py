"""``--batch-size auto``: the largest batch whose working set fits a memory budget.

The estimate per operator is its stored trajectory plus the rollout's buffers plus the activations of one
forward pass, measured by running one operator of each architecture signature once with forward hooks.
The result is a plain number recorded in the compute plan, so a resume (on any machine) reuses it and the
dataset stays bit-identical.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from spinlock.core.config import RunConfig
from spinlock.operators.generation.plan import Batch, OperatorSettings

#: state-sized tensors the rollout keeps besides the trajectory (ping-pong states, noise, update buffers)
ROLLOUT_STATE_BUFFERS = 8
#: live activation tensors at the widest layer (input, output, padding copy, norm temporaries)
LIVE_ACTIVATIONS = 4
MAX_AUTO_BATCH = 256


def available_memory(device: torch.device) -> int:
    """Free bytes on ``device``: free CUDA memory, or ``MemAvailable`` of the host."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 4 * 1024**3  # no /proc (macOS, Windows): assume a modest 4 GiB


def widest_activation(
    forward: Callable[[torch.Tensor], torch.Tensor], module: torch.nn.Module, x: torch.Tensor
) -> int:
    """Elements of the largest tensor any submodule produces in one forward pass of ``x``."""
    sizes: list[int] = [x.numel()]

    def record(_module: Any, _inputs: Any, output: Any) -> None:
        if isinstance(output, torch.Tensor):
            sizes.append(output.numel())

    handles = [m.register_forward_hook(record) for m in module.modules()]
    try:
        with torch.inference_mode():
            forward(x)
    finally:
        for handle in handles:
            handle.remove()
    return max(sizes)


def bytes_per_operator(config: RunConfig, activation_elements: int) -> int:
    """Working-set bytes of one operator (all its realizations) during a batch."""
    grid = config.grid
    state = config.rollout.realizations * grid.channels * grid.height * grid.width * 4
    stored = (
        math.ceil(config.rollout.steps / config.storage.trajectory_stride)
        if config.storage.store_trajectories
        else 0
    )
    # the trajectory exists on the device and once more as the numpy copy handed to the writer
    return state * (2 * stored + ROLLOUT_STATE_BUFFERS) + LIVE_ACTIVATIONS * activation_elements * 4


def auto_batch_size(
    config: RunConfig,
    settings: Sequence[OperatorSettings],
    build: Callable[[Batch], torch.nn.Module],
    device: torch.device,
    budget_bytes: int | None = None,
) -> int:
    """The largest batch size (≤ 256) whose estimated working set fits ``budget_bytes``.

    :param build: builds the operator of a one-operator batch (to probe each signature's activations).
    :param budget_bytes: default half the host's available memory, or 80% of free GPU memory.
    """
    if budget_bytes is None:
        fraction = 0.8 if device.type == "cuda" else 0.5
        budget_bytes = int(available_memory(device) * fraction)
    grid = config.grid
    x = torch.zeros(config.rollout.realizations, grid.channels, grid.height, grid.width, device=device)
    seen: dict[tuple[Any, ...], int] = {}
    for op in settings:
        if op.signature not in seen:
            module = build(Batch(0, (op,)))
            seen[op.signature] = widest_activation(module, module, x)
    per_operator = max(bytes_per_operator(config, elements) for elements in seen.values())
    return max(1, min(MAX_AUTO_BATCH, budget_bytes // per_operator))
