"""``spinlock visualize ic-types`` (:mod:`spinlock.operators.gallery`) and ``spinlock visualize rollouts``
(:mod:`spinlock.operators.viz.rollouts`).

Import-light: neither torch nor matplotlib is imported until the command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from spinlock.core.cli.errors import fail, require_file
from spinlock.core.cli.groups import visualize_group


def register_visualize(app: typer.Typer) -> None:
    """Add ``visualize ic-types`` and ``visualize rollouts`` to ``app`` (creating the group if needed)."""
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

    _register_rollouts(group)


def _register_rollouts(group: typer.Typer) -> None:
    @group.command("rollouts")
    def rollouts(
        dataset: Path = typer.Argument(..., help="Dataset file (.h5).", show_default=False),
        indices: str | None = typer.Option(
            None, "--indices", "-i", help="Operator rows, e.g. 0,3,5 or 0-3 (default: the first three)."
        ),
        output: Path = typer.Option(Path("rollouts"), "--output", "-o", help="Folder for the files."),
        channels: str = typer.Option(
            "auto",
            "--channels",
            help="rgb, pca or a channel number (auto: rgb for C=3, 0 for C=1, else pca).",
        ),
        cmap: str = typer.Option("viridis", "--cmap", help="Colormap of a single shown channel."),
        formats: str = typer.Option("mp4,gif,png", "--format", help="Any of mp4, gif, png (contact sheet)."),
        fps: float = typer.Option(8.0, "--fps", min=0.1, help="Animation frames per second."),
        realizations: int = typer.Option(4, "--realizations", min=1, help="Realization columns shown."),
        snapshots: int = typer.Option(6, "--snapshots", min=1, help="Time columns of the contact sheet."),
        replay: bool = typer.Option(
            False, "--replay", help="Recompute the operators even when trajectories are stored."
        ),
    ) -> None:
        """Animate operators' rollouts (realizations, mean, variance, spectrum) and draw a contact sheet.

        Trajectories are read from the dataset, or recomputed from its config when it does not store them.
        """
        from spinlock.core.storage import DatasetError
        from spinlock.operators.gallery import MissingDependencyError
        from spinlock.operators.viz.rollouts import parse_formats, parse_indices, render_rollouts

        try:
            chosen = None if indices is None else parse_indices(indices)
            chosen_formats = parse_formats(formats)
        except ValueError as exc:
            fail(str(exc))
        require_file(dataset)
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
        )
        tasks: dict[str, Any] = {}

        def advance(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        with bar:
            try:
                result = render_rollouts(
                    dataset,
                    chosen,
                    output,
                    channels=channels,
                    cmap=cmap,
                    formats=chosen_formats,
                    fps=fps,
                    max_realizations=realizations,
                    snapshots=snapshots,
                    replay=True if replay else None,
                    progress=advance,
                )
            except (MissingDependencyError, DatasetError, ValueError, OSError) as exc:
                bar.stop()
                fail(str(exc))
        for path in result.files.values():
            typer.echo(str(path))  # stdout: the paths written
