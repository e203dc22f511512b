"""``spinlock visualize ic-types``: the initial-condition gallery (:mod:`spinlock.operators.gallery`).

Import-light: neither torch nor matplotlib is imported until the command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from spinlock.core.cli.errors import fail

VISUALIZE = "visualize"


def _group_name(info: Any) -> str | None:
    """The name a registered group is invoked by (from ``add_typer(name=...)`` or ``Typer(name=...)``)."""
    for name in (info.name, getattr(info.typer_instance.info, "name", None)):
        if isinstance(name, str):
            return name
    return None


def visualize_group(app: typer.Typer) -> typer.Typer:
    """The ``visualize`` sub-app of ``app``: the one already added, else a new one added now."""
    for info in app.registered_groups:
        if _group_name(info) == VISUALIZE and info.typer_instance is not None:
            group: typer.Typer = info.typer_instance
            return group
    group = typer.Typer(help="Pictures of spinlock components.", no_args_is_help=True)
    app.add_typer(group, name=VISUALIZE)
    return group


def register_visualize(app: typer.Typer) -> None:
    """Add ``visualize ic-types`` to ``app`` (creating the ``visualize`` group if needed)."""
    group = visualize_group(app)

    @group.command("ic-types")
    def ic_types(
        output: Path = typer.Option(
            Path("ic-types.png"), "--output", "-o", help="Image to write (.png, .pdf, .svg, .jpg)."
        ),
        seeds: int = typer.Option(1, "--seeds", min=1, help="Seeds per type (one row per tier per seed)."),
        size: int = typer.Option(64, "--size", min=4, help="Grid side in pixels."),
        channels: int = typer.Option(3, "--channels", min=1, help="Channels (1: colormap, else RGB)."),
        seed: int = typer.Option(0, "--seed", min=0, help="Root seed."),
    ) -> None:
        """Render every initial-condition type, one row per tier."""
        from spinlock.operators.gallery import MissingDependencyError, import_pyplot

        try:
            import_pyplot()
        except MissingDependencyError as exc:
            fail(str(exc))
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from spinlock.core.cli.plugin_commands import cli_plugin_manager
        from spinlock.operators.gallery import ic_specs_by_tier, render_ic_gallery

        manager = cli_plugin_manager()
        total = sum(len(specs) for _, specs in ic_specs_by_tier(manager))
        console = Console(stderr=True)
        bar = Progress(
            TextColumn("rendering"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("IC types · {task.fields[current]}"),
            TimeElapsedColumn(),
            console=console,
        )
        with bar:
            task = bar.add_task("ic-types", total=total, current="")

            def advance(name: str) -> None:
                bar.update(task, advance=1, current=name)

            try:
                written = render_ic_gallery(
                    output,
                    seeds_per_type=seeds,
                    size=size,
                    channels=channels,
                    seed=seed,
                    manager=manager,
                    progress=advance,
                )
            except (MissingDependencyError, ValueError, OSError) as exc:
                bar.stop()
                fail(str(exc))
        typer.echo(str(written))  # stdout: the path written
