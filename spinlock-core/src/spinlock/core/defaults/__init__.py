"""Configs shipped inside spinlock-core: the quick run that ``spinlock generate`` uses when given no config."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def quick_config_path() -> Path:
    """Path of the embedded quick-run config (64 CNN operators, 32², T=16, M=3)."""
    return Path(str(files(__name__).joinpath("quick.yaml")))
