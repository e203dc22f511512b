"""How the command line reports bad input: a clear message on stderr and exit code 2, never a traceback."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer

if TYPE_CHECKING:
    from spinlock.core.config import RunConfig
    from spinlock.core.plugins import PluginManager

USAGE_ERROR = 2


class CliError(Exception):
    """An error the user can fix; printed without a traceback.

    :param message: what is wrong, naming the offending file, path or value.
    :param exit_code: process exit status (2 for bad input).
    """

    def __init__(self, message: str, exit_code: int = USAGE_ERROR) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def load_run_config_or_fail(path: Path, manager: PluginManager) -> RunConfig:
    """Load a run config for a command; any problem is printed with its path and exits 2."""
    from spinlock.core.config import ConfigError, load_run_config

    try:
        return load_run_config(path, manager)
    except ConfigError as exc:
        fail(exc.render())


def require_file(path: Path, label: str = "") -> None:
    """Exit 2 unless ``path`` is an existing file: ``[label ]PATH: no such file`` or ``...: is a directory``."""
    if path.is_file():
        return
    reason = "is a directory, not a file" if path.is_dir() else "no such file"
    fail(f"{label + ' ' if label else ''}{path}: {reason}")


def fail(message: str, exit_code: int = USAGE_ERROR) -> NoReturn:
    """Print ``error: message`` to stderr and exit (under torchrun, ranks other than 0 name their rank)."""
    from spinlock.core.distributed import env_rank

    rank = env_rank()
    print(f"error{f' [rank {rank}]' if rank else ''}: {message}", file=sys.stderr)
    raise typer.Exit(exit_code)
