"""Assembly of the root ``spinlock`` application from core's command modules and plugin commands."""

from __future__ import annotations

import importlib
import sys

import typer

from spinlock.core.cli.errors import CliError

INTERRUPTED = 130  # 128 + SIGINT, as shells report it

#: Core command modules; each exposes ``register(app: typer.Typer) -> None``.
COMMAND_MODULES: tuple[str, ...] = (
    "spinlock.core.cli.plugin_commands",
    "spinlock.core.cli.config_commands",
    "spinlock.core.cli.sample_commands",
    "spinlock.core.cli.dataset_commands",
    "spinlock.core.cli.merge_commands",
)


def build_app(*, with_plugins: bool = True) -> typer.Typer:
    """The root app with core's commands and, optionally, commands contributed by plugins."""
    from spinlock.core.cli.plugin_commands import version_callback

    app = typer.Typer(
        name="spinlock",
        help="Spinlock: datasets of random neural operators, their features and behavioural tokens.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )

    @app.callback()
    def root(
        version: bool = typer.Option(
            False, "--version", callback=version_callback, is_eager=True, help="Show installed distributions."
        ),
    ) -> None:
        """Spinlock command line."""

    for module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        module.register(app)
    if with_plugins:
        from spinlock.core.cli.plugin_commands import listing_plugin_manager

        listing_plugin_manager().call_command_hooks(app)
    return app


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    try:
        app = build_app()
        app(args=argv, prog_name="spinlock")
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:  # Ctrl-C before a command started (commands handle their own)
        print("error: interrupted", file=sys.stderr)
        sys.exit(INTERRUPTED)
    except SystemExit as exc:
        # typer turns a Ctrl-C that lands in its own argument handling into a silent exit 130; our commands
        # report theirs through CliError (handled above), so this one has said nothing yet
        if exc.code == INTERRUPTED:
            print("error: interrupted", file=sys.stderr)
        raise
