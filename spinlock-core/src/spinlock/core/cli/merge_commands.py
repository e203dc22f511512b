"""``spinlock merge``: combine the shard files of one run (``spinlock generate --shard i/N``) into a dataset.

Exit codes: 0 merged; 2 the shards cannot be merged (different runs, samples missing, a shard unreadable) or
the output exists without ``--overwrite``, with the reason on stderr and nothing written.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from spinlock.core.cli.errors import fail


def register(app: typer.Typer) -> None:
    """Add ``merge`` to ``app``."""
    app.command("merge")(merge)


def merge(
    shards: list[Path] = typer.Argument(
        ..., help="Shard files of one run, in any order.", show_default=False
    ),
    output: Path = typer.Option(..., "--output", "-o", help="Dataset file to write (HDF5)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output file."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Merge shard files into one dataset, identical to a single-process `spinlock generate` of the run."""
    from spinlock.core.storage import DatasetError, MergeError, merge_shards

    try:
        summary = merge_shards(shards, output, overwrite=overwrite)
    except (DatasetError, MergeError) as exc:
        fail(str(exc))
    payload = {
        "path": str(summary.path),
        "n_operators": summary.n_operators,
        "shards": summary.shards,
        "overlapping": summary.overlapping,
        "seconds": round(summary.seconds, 3),
    }
    if as_json:
        typer.echo(json.dumps(payload))
    else:
        typer.echo(
            f"{summary.path}: {summary.n_operators} operators merged from {summary.shards} shards "
            f"in {summary.seconds:.1f} s"
        )
