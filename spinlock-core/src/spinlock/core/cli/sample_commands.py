"""``spinlock sample FILE``: draw a config's parameters and report how well they cover the space."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from spinlock.core.cli.errors import fail, load_run_config_or_fail


def _shares(values: Any) -> dict[str, float] | None:
    import numpy as np

    if values.dtype.kind == "f":
        return None
    keys, counts = np.unique(values, return_counts=True)
    return {str(k): float(c) / len(values) for k, c in zip(keys, counts, strict=True)}


def sample(
    path: Path = typer.Argument(..., help="YAML run config."),
    as_json: bool = typer.Option(False, "--json", help="Print names, quality, shares and rows as JSON."),
    rows: int = typer.Option(8, "--rows", min=0, help="How many rows of θ to show."),
) -> None:
    """Draw the run's parameters (no operators are built) and report sample quality and value shares."""
    import warnings

    from rich.console import Console
    from rich.table import Table

    from spinlock.core.cli.plugin_commands import cli_plugin_manager
    from spinlock.core.sampling.draw import draw_parameters

    manager = cli_plugin_manager()
    config = load_run_config_or_fail(path, manager)
    err = Console(stderr=True)
    from spinlock.core.registry import RegistryError

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            draw = draw_parameters(config, manager.components)
        except RegistryError as exc:  # e.g. a sampler whose plugin cannot import its factory
            fail(str(exc))
    for warning in caught:
        err.print(f"[yellow]warning:[/yellow] {warning.message}", highlight=False, soft_wrap=True)
    if not draw.names:
        fail(f"{path}: parameter_space is empty: nothing to sample")
    shares = {name: _shares(values) for name, values in draw.values.items()}
    head = [
        {name: draw.values[name][i].item() for name in draw.names}
        for i in range(min(rows, config.n_operators))
    ]
    if as_json:
        payload = {
            "names": list(draw.names),
            "n_operators": config.n_operators,
            "sampler": config.sampling.kind,
            "quality": draw.quality.to_dict() if draw.quality else None,
            "shares": shares,
            "rows": head,
        }
        print(json.dumps(payload, indent=2))
        return
    console = Console()
    table = Table(title=f"θ: first {len(head)} of {config.n_operators} ({config.sampling.kind})")
    for name in draw.names:
        table.add_column(name)
    for row in head:
        table.add_row(*(f"{v:.4g}" if isinstance(v, float) else str(v) for v in row.values()))
    console.print(table)
    if draw.quality is not None:
        q = draw.quality
        console.print(
            f"centred L2 discrepancy {q.discrepancy:.3g} (on {q.discrepancy_points} points), "
            f"max |corr| {q.max_abs_correlation:.3g}, mean |corr| {q.mean_abs_correlation:.3g}"
        )
    for name, share in shares.items():
        if share is not None:
            console.print(f"{name}: " + ", ".join(f"{k} {v:.3f}" for k, v in share.items()))


def register(app: typer.Typer) -> None:
    app.command("sample")(sample)
