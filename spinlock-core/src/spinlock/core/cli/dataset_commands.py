"""``spinlock info`` and ``spinlock validate``: describe and check a dataset file.

Exit codes: 0 success; 1 (``validate`` only) the file is a readable Spinlock dataset with problems, each
listed on stdout; 2 the file cannot be read as a Spinlock dataset at all (missing, not HDF5, truncated,
foreign, newer format, locked by a writer), with the reason on stderr.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from spinlock.core.cli.errors import fail

if TYPE_CHECKING:
    from spinlock.core.storage import DatasetReader

INVALID_DATASET = 1
UNREADABLE_DATASET = 2


def register(app: typer.Typer) -> None:
    """Add ``info`` and ``validate`` to ``app``."""
    app.command("info")(info)
    app.command("validate")(validate)


def info(
    dataset: Path = typer.Argument(..., help="Dataset file (.h5) to describe.", show_default=False),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
) -> None:
    """Describe a dataset: size, progress, parameters, initial conditions, trajectories, features, tokens."""
    from spinlock.core.storage import DatasetError, open_dataset

    try:
        with open_dataset(dataset) as reader:
            summary = _summary(reader)
    except DatasetError as exc:
        fail(str(exc), UNREADABLE_DATASET)
    if as_json:
        typer.echo(json.dumps(summary, sort_keys=False))
    else:
        _print_table(summary)


def validate(
    dataset: Path = typer.Argument(..., help="Dataset file (.h5) to check.", show_default=False),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of text."),
) -> None:
    """Check a dataset against the documented layout; exit 0 when valid, 1 with problems, 2 if unreadable."""
    from spinlock.core.storage import validate_dataset

    problems = validate_dataset(dataset)
    fatal = [problem for problem in problems if problem.fatal]
    if fatal:
        fail(f"{dataset}: {fatal[0].message}", UNREADABLE_DATASET)
    if as_json:
        listed = [{"path": problem.path, "message": problem.message} for problem in problems]
        typer.echo(json.dumps({"path": str(dataset), "valid": not problems, "problems": listed}))
    elif not problems:
        typer.echo("ok")
    else:
        typer.echo(f"{dataset}: {len(problems)} problem{'s' if len(problems) != 1 else ''}")
        for problem in problems:
            typer.echo(f"  {problem.path}: {problem.message}")
    if problems:
        raise typer.Exit(INVALID_DATASET)


def _summary(reader: DatasetReader) -> dict[str, Any]:
    done = reader.done()
    statuses = Counter(reader.status())
    features = {}
    for family in reader.feature_families():
        feature = reader.feature_info(family)
        features[family] = {
            "dim": feature.dim,
            "per_timestep": feature.per_timestep,
            "version": feature.version,
            "provider": feature.provider,
        }
    tokens = {}
    for name in reader.token_sets():
        token_set = reader.tokens(name)
        tokenized = token_set.tokenized
        tokens[name] = {
            "shape": list(token_set.ids.shape),
            "categories": list(token_set.categories),
            "levels": list(token_set.levels),
            "codebook_sizes": [list(row) for row in token_set.codebook_sizes],
            "tokenized": int(tokenized.sum()),
            "tokenized_share": float(tokenized.mean()),
            "version": token_set.version,
            "provider": token_set.provider,
        }
    trajectories = None
    if reader.has_trajectories:
        shape = reader.trajectory_shape
        trajectories = {
            "shape": list(shape or ()),
            "stride": reader.stride,
            "steps": reader.steps,
            "dtype": reader.trajectory_dtype,
        }
    done_types = [t for t, is_done in zip(reader.ic_types(), done.tolist(), strict=True) if is_done]
    return {
        "path": str(reader.path),
        "format_version": reader.format_version,
        "n_operators": reader.n_operators,
        "completed": int(done.sum()),
        "parameter_names": reader.parameter_names,
        "initial_conditions": {
            "shape": list(reader.ic_shape),
            "types": dict(sorted(Counter(done_types).items())),
        },
        "trajectories": trajectories,
        "features": features,
        "tokens": tokens,
        "status": dict(sorted(statuses.items())),
        "seed": reader.seed,
        "provenance": reader.provenance,
    }


def _print_table(summary: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=summary["path"], show_header=False, title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value")
    table.add_row("format version", str(summary["format_version"]))
    table.add_row("operators (N)", str(summary["n_operators"]))
    table.add_row("completed", f"{summary['completed']} of {summary['n_operators']}")
    table.add_row("parameters", ", ".join(summary["parameter_names"]) or "-")
    ics = summary["initial_conditions"]
    types = ", ".join(f"{name} {count}" for name, count in ics["types"].items()) or "-"
    table.add_row("initial conditions", f"(N, {', '.join(map(str, ics['shape']))}); types: {types}")
    traj = summary["trajectories"]
    if traj is None:
        table.add_row("trajectories", "not stored")
    else:
        shape = ", ".join(map(str, traj["shape"]))
        table.add_row(
            "trajectories", f"({shape}) {traj['dtype']}, stride {traj['stride']} of {traj['steps']} steps"
        )
    features = summary["features"]
    if not features:
        table.add_row("features", "none")
    for family, feature in features.items():
        per_step = f" x T={feature['per_timestep']}" if feature["per_timestep"] is not None else ""
        table.add_row(
            f"features: {family}",
            f"D={feature['dim']}{per_step}, version {feature['version']} ({feature['provider'] or '?'})",
        )
    tokens = summary["tokens"]
    if not tokens:
        table.add_row("tokens", "none")
    for name, token_set in tokens.items():
        k, n_levels = len(token_set["categories"]), len(token_set["levels"])
        table.add_row(
            f"tokens: {name}",
            f"K={k} x L={n_levels} ({', '.join(token_set['levels'])}), codebooks "
            f"{_codebook_text(token_set['codebook_sizes'])}, tokenized {token_set['tokenized']} of "
            f"{summary['n_operators']} ({token_set['tokenized_share']:.0%}), version {token_set['version']} "
            f"({token_set['provider'] or '?'})",
        )
    table.add_row("status", ", ".join(f"{name} {count}" for name, count in summary["status"].items()))
    table.add_row("seed", str(summary["seed"]))
    table.add_row(
        "provenance", ", ".join(f"{dist} {ver}" for dist, ver in summary["provenance"].items()) or "-"
    )
    Console(soft_wrap=True).print(table)


def _codebook_text(sizes: list[list[int]]) -> str:
    """K×L codebook sizes as ``24/24/24`` (per level) when every category shares them, else per category."""
    if all(row == sizes[0] for row in sizes):
        return "/".join(map(str, sizes[0]))
    return "; ".join("/".join(map(str, row)) for row in sizes) + " (per category)"
