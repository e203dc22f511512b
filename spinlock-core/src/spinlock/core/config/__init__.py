"""Configuration: frozen attrs classes, one strict cattrs converter, YAML, path-bearing errors.

Typical use::

    from spinlock.core.config import load_run_config
    config = load_run_config("run.yaml")          # raises ConfigError with `@ $.path` messages
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from spinlock.core.config.components import (
    ComponentRef,
    EncoderRef,
    ExecutorRef,
    FeatureFamilyRef,
    InitialConditionRef,
    OperatorRef,
    SamplerRef,
)
from spinlock.core.config.converter import make_converter, structure
from spinlock.core.config.errors import ConfigError, ConfigProblem
from spinlock.core.config.run import (
    GridConfig,
    NoiseConfig,
    RolloutConfig,
    RunConfig,
    StorageConfig,
)
from spinlock.core.config.yaml_io import (
    dump_config,
    load_config,
    loads_config,
    read_config_text,
    read_yaml_file,
)

if TYPE_CHECKING:
    from spinlock.core.plugins import PluginManager

__all__ = [
    "ComponentRef",
    "ConfigError",
    "ConfigProblem",
    "EncoderRef",
    "ExecutorRef",
    "FeatureFamilyRef",
    "GridConfig",
    "InitialConditionRef",
    "NoiseConfig",
    "OperatorRef",
    "RolloutConfig",
    "RunConfig",
    "SamplerRef",
    "StorageConfig",
    "dump_config",
    "dump_run_config",
    "load_config",
    "load_run_config",
    "loads_config",
    "make_converter",
    "read_config_text",
    "read_yaml_file",
    "structure",
]


def _manager(manager: PluginManager | None) -> PluginManager:
    if manager is not None:
        return manager
    from spinlock.core.plugins import build_plugin_manager

    return build_plugin_manager()


def load_run_config(path: str | Path, manager: PluginManager | None = None) -> RunConfig:
    """Load and validate a run config, resolving components through ``manager`` (installed plugins by default)."""
    return load_config(path, RunConfig, make_converter(_manager(manager).components))


def dump_run_config(config: RunConfig, manager: PluginManager | None = None) -> str:
    """The YAML text of a run config, as stored in datasets."""
    return dump_config(config, make_converter(_manager(manager).components))
