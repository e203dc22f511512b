"""Shared fixtures of the reliability suite: the ``spinlock`` command line, in-process."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def spinlock_app() -> Any:
    """The full ``spinlock`` app, with the commands that the installed plugins add."""
    from spinlock.core.cli import build_app

    return build_app()


@pytest.fixture
def cli(spinlock_app: Any) -> Callable[..., Any]:
    """``cli("info", path)``: run a ``spinlock`` command in-process; returns click's ``Result``."""
    from typer.testing import CliRunner

    runner = CliRunner()

    def invoke(*args: str | Path) -> Any:
        return runner.invoke(spinlock_app, [str(arg) for arg in args])

    return invoke


def assert_clean_failure(result: Any, *fragments: str, exit_code: int = 2) -> None:
    """A command failed the way bad input should: exit code, ``error: ...`` on stderr, no traceback."""
    assert result.exit_code == exit_code, (result.exit_code, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert errors, result.stderr  # progress bars may have drawn lines before it
    message = result.stderr[result.stderr.index("error: ") :]
    for fragment in fragments:
        assert fragment in message, (fragment, result.stderr)


@pytest.fixture
def clean_failure() -> Callable[..., None]:
    """:func:`assert_clean_failure` as a fixture (test modules are not importable from each other)."""
    return assert_clean_failure
