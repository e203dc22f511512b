"""Run under torchrun (or plainly) by the distributed tests: train a tiny agent and dump, per rank, a digest
of its final weights with the history.

usage: python _noa_worker.py DATASET TOKENIZER_DIR OUTPUT DIGESTS [EPOCHS]
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import torch

from spinlock.core.config import dump_config, make_converter
from spinlock.core.plugins import build_plugin_manager
from spinlock.noa.config import BackboneConfig, NOAConfig, TrainingConfig
from spinlock.noa.training import train_noa

TINY = BackboneConfig(base_channels=4, encoder_levels=2, afno_blocks=1, modes=2, num_blocks=4, film_hidden=16)


def main() -> None:
    dataset, tokenizer, output, digests = (Path(a) for a in sys.argv[1:5])
    epochs = int(sys.argv[5]) if len(sys.argv) > 5 else 1
    torch.set_num_threads(1)
    config = NOAConfig(
        backbone=TINY,
        training=TrainingConfig(epochs=epochs, batch_size=6, learning_rate=2e-2, validation_fraction=0.25),
    )
    text = dump_config(config, make_converter())
    manager = build_plugin_manager(strict=True)
    result = train_noa(dataset, tokenizer, output, config, config_yaml=text, manager=manager)
    h = hashlib.sha256()
    for key, value in sorted(result.backbone.state_dict().items()):
        h.update(key.encode())
        h.update(value.detach().cpu().contiguous().numpy().tobytes())
    rank = int(os.environ.get("RANK", "0"))
    digests.mkdir(parents=True, exist_ok=True)
    (digests / f"rank{rank}.json").write_text(
        json.dumps({"weights": h.hexdigest(), "history": result.history, "best_epoch": result.best_epoch})
    )


if __name__ == "__main__":
    main()
