"""Agent checkpoints: one ``torch.save`` dict of tensors and plain types, loaded with ``weights_only=True``.

A checkpoint holds the config as YAML text, the provenance (distribution → version), the agent's
description (θ names, channels, grid, rollout steps and stride of its dataset, the tokenizer's digest) and
the weights; a training checkpoint (``last.pt``) also holds the optimizer and the history for ``--resume``.
Nothing is pickled: a file that is not one of ours, or comes from a newer format, is refused with a clear
message (``weights_only=True`` never executes code). Writes are atomic (temporary file, then rename).

An output directory of ``spinlock train-noa`` holds ``model.pt`` (best), ``last.pt`` (latest),
``tokenizer.pt`` (a copy of the frozen tokenizer it was trained against), ``history.json`` and
``config.yaml``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import torch

from spinlock.core.training import CheckpointError, load_payload, save_payload
from spinlock.noa.config import NOAConfig

FORMAT = "spinlock-noa-checkpoint"
FORMAT_VERSION = 1
MODEL_FILE = "model.pt"
LAST_FILE = "last.pt"
TOKENIZER_FILE = "tokenizer.pt"


@attrs.frozen(eq=False)
class AgentCheckpoint:
    """A loaded agent checkpoint.

    :param agent: ``parameter_names``, ``channels``, ``grid``, ``steps``, ``stride``, ``realizations``,
        ``dataset`` (path it was trained on) and ``tokenizer_sha256``.
    """

    path: Path
    config: NOAConfig
    config_yaml: str
    provenance: dict[str, str]
    agent: dict[str, Any]
    weights: dict[str, torch.Tensor]
    training: dict[str, Any] | None


def model_path(directory: str | Path) -> Path:
    """The best model of a training output directory (a file path is taken as it is)."""
    path = Path(directory)
    return path / MODEL_FILE if path.is_dir() else path


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_checkpoint(
    path: Path,
    *,
    config_yaml: str,
    provenance: Mapping[str, str],
    agent: Mapping[str, Any],
    weights: Mapping[str, torch.Tensor],
    training: Mapping[str, Any] | None = None,
) -> None:
    """Write atomically, so a crash never leaves a half-written checkpoint."""
    payload = {
        "config_yaml": config_yaml,
        "provenance": dict(provenance),
        "agent": dict(agent),
        "weights": {k: v.detach().cpu() for k, v in weights.items()},
        "training": None if training is None else dict(training),
    }
    save_payload(path, payload, format_name=FORMAT, format_version=FORMAT_VERSION)


def load_checkpoint(path: str | Path) -> AgentCheckpoint:
    """Load and check a checkpoint; :class:`CheckpointError` names what is wrong."""
    from spinlock.core.config import loads_config, make_converter

    path = Path(path)
    payload = load_payload(
        path,
        format_name=FORMAT,
        format_version=FORMAT_VERSION,
        what="Spinlock NOA",
        hint="train one with `spinlock train-noa`",
    )
    try:
        config = loads_config(payload["config_yaml"], NOAConfig, make_converter(), f"{path} (stored config)")
        return AgentCheckpoint(
            path=path,
            config=config,
            config_yaml=payload["config_yaml"],
            provenance=dict(payload["provenance"]),
            agent=dict(payload["agent"]),
            weights=dict(payload["weights"]),
            training=payload.get("training"),
        )
    except (KeyError, TypeError, ValueError) as exc:  # ValueError: a ConfigError, or dict() of a non-mapping
        raise CheckpointError(path, f"incomplete or damaged checkpoint ({exc})") from None
