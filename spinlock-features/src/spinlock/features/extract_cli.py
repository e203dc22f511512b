"""``spinlock extract DATASET``: compute feature families offline from a dataset's stored data.

Registered by spinlock-features through ``spinlock_register_commands``; heavy imports happen inside the
command.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from spinlock.core.cli.errors import fail

DEFAULT_FAMILIES = "initial,architecture,summary,temporal"


def extract_command(
    dataset: Path = typer.Argument(..., help="Spinlock dataset (HDF5) to add features to."),
    families: str = typer.Option(DEFAULT_FAMILIES, "--families", "-f", help="Comma-separated family names."),
    batch_size: int = typer.Option(16, "--batch-size", min=1, help="Samples per batch."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Compute feature families from stored ICs, parameters and trajectories; replaces existing values."""
    from spinlock.core.cli.plugin_commands import cli_plugin_manager
    from spinlock.core.registry import RegistryError
    from spinlock.core.storage import DatasetError
    from spinlock.features.offline import extract_dataset

    names = [name.strip() for name in families.split(",") if name.strip()]
    if not names:
        fail("--families names no family")
    try:
        summary = extract_dataset(dataset, names, cli_plugin_manager(), batch_size=batch_size, quiet=quiet)
    except (DatasetError, RegistryError, ValueError) as exc:
        fail(str(exc) if str(dataset) in str(exc) else f"{dataset}: {exc}")
    if as_json:
        print(json.dumps(summary))
    else:
        for name, dims in summary["families"].items():
            print(f"{dataset}: {name} {dims} for {summary['n_operators']} operators")


def register(app: typer.Typer) -> None:
    app.command("extract")(extract_command)
