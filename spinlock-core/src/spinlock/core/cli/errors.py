"""How the command line reports bad input: a clear message on stderr and exit code 2, never a traceback."""

from __future__ import annotations

import sys
from typing import NoReturn

import typer

USAGE_ERROR = 2


class CliError(Exception):
    """An error the user can fix; printed without a traceback.

    :param message: what is wrong, naming the offending file, path or value.
    :param exit_code: process exit status (2 for bad input).
    """

    def __init__(self, message: str, exit_code: int = USAGE_ERROR) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def fail(message: str, exit_code: int = USAGE_ERROR) -> NoReturn:
    """Print ``error: message`` to stderr and exit."""
    print(f"error: {message}", file=sys.stderr)
    raise typer.Exit(exit_code)
