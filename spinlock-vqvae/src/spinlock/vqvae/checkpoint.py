"""Tokenizer checkpoints: one ``torch.save`` dict of tensors and plain types, loaded with ``weights_only=True``.

A checkpoint holds the config as YAML text, the provenance (distribution → version), the tokenizer state
(fitted cleaning, categories, temporal scaler, model constructor arguments) and the weights; a training
checkpoint (``last.pt``) also holds the optimizer, the schedule and the training history for ``--resume``.
Nothing is pickled: a file that is not one of ours, or was written by another format version, is refused
with a clear message, and a malicious pickle cannot run because ``weights_only=True`` never executes code.

Format versions: 2 added the TEMPORAL categories (one sequence model per category, batched); a version-1
checkpoint holds one TEMPORAL GRU laid out differently and must be retrained.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import torch

from spinlock.core.training import CheckpointError, load_payload, save_payload
from spinlock.vqvae.config import TokenizerConfig

FORMAT = "spinlock-vqvae-checkpoint"
FORMAT_VERSION = 2
MODEL_FILE = "model.pt"
LAST_FILE = "last.pt"


@attrs.frozen(eq=False)
class Checkpoint:
    """A loaded checkpoint."""

    path: Path
    config: TokenizerConfig
    config_yaml: str
    provenance: dict[str, str]
    tokenizer_state: dict[str, Any]
    weights: dict[str, torch.Tensor]
    training: dict[str, Any] | None


def model_path(directory: str | Path) -> Path:
    """The best model of a training output directory (a file path is taken as it is)."""
    path = Path(directory)
    return path / MODEL_FILE if path.is_dir() else path


def save_checkpoint(
    path: Path,
    *,
    config_yaml: str,
    provenance: Mapping[str, str],
    tokenizer_state: Mapping[str, Any],
    weights: Mapping[str, torch.Tensor],
    training: Mapping[str, Any] | None = None,
) -> None:
    """Write atomically (temporary file, then rename), so a crash never leaves a half-written checkpoint."""
    payload = {
        "config_yaml": config_yaml,
        "provenance": dict(provenance),
        "tokenizer": dict(tokenizer_state),
        "weights": {k: v.detach().cpu() for k, v in weights.items()},
        "training": None if training is None else dict(training),
    }
    save_payload(path, payload, format_name=FORMAT, format_version=FORMAT_VERSION)


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Load and check a checkpoint; :class:`CheckpointError` names what is wrong."""
    from spinlock.core.config import loads_config, make_converter

    path = Path(path)
    payload = load_payload(
        path,
        format_name=FORMAT,
        format_version=FORMAT_VERSION,
        what="Spinlock VQ-VAE",
        hint="train one with `spinlock train-vqvae`",
    )
    if payload["format_version"] < FORMAT_VERSION:
        raise CheckpointError(
            path,
            f"checkpoint format version {payload['format_version']} was written by an older spinlock-vqvae "
            f"whose TEMPORAL model is laid out differently (this reader needs {FORMAT_VERSION}); "
            "train it again with `spinlock train-vqvae`",
        )
    try:
        config = loads_config(
            payload["config_yaml"], TokenizerConfig, make_converter(), f"{path} (stored config)"
        )
        return Checkpoint(
            path=path,
            config=config,
            config_yaml=payload["config_yaml"],
            provenance=dict(payload["provenance"]),
            tokenizer_state=dict(payload["tokenizer"]),
            weights=dict(payload["weights"]),
            training=payload.get("training"),
        )
    except (KeyError, TypeError, ValueError) as exc:  # ValueError: a ConfigError, or dict() of a non-mapping
        raise CheckpointError(path, f"incomplete or damaged checkpoint ({exc})") from None
