"""The ``spinlock`` command line (typer + rich). Progress and errors go to stderr; stdout stays machine-readable."""

from __future__ import annotations

from spinlock.core.cli.app import build_app, main

__all__ = ["build_app", "main"]
