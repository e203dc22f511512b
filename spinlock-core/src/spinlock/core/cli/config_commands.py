"""``spinlock validate-config FILE``: load a run config and report every problem with its path."""

from __future__ import annotations

from pathlib import Path

import typer

from spinlock.core.cli.errors import load_run_config_or_fail


def validate_config(
    path: Path = typer.Argument(..., help="YAML run config to check."),
    show: bool = typer.Option(False, "--show", help="Print the fully resolved config (with defaults)."),
) -> None:
    """Check a run config: syntax, keys, types, ranges and component names. Exit 2 on any problem."""
    from spinlock.core.cli.plugin_commands import cli_plugin_manager
    from spinlock.core.config import dump_run_config

    manager = cli_plugin_manager()
    config = load_run_config_or_fail(path, manager)
    if show:
        print(dump_run_config(config, manager), end="")
    else:
        print(f"{path}: ok")


def register(app: typer.Typer) -> None:
    app.command("validate-config")(validate_config)
