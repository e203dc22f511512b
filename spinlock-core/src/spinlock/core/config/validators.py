"""attrs validators whose messages name the field and suggest the nearest valid choice."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from spinlock.core.registry import suggest

Validator = Callable[[Any, "attrs.Attribute[Any]", Any], None]


def one_of(*choices: str) -> Validator:
    """The value must be one of ``choices``; typos get a did-you-mean."""

    def check(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value in choices:
            return
        message = f"'{attribute.name}' must be one of {', '.join(map(repr, choices))}: {value!r}"
        guess = suggest(str(value), list(choices))
        if guess:
            message += f" (did you mean {guess!r}?)"
        raise ValueError(message)

    return check


def positive(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not value > 0:
        raise ValueError(f"'{attribute.name}' must be > 0: {value!r}")


def non_negative(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not value >= 0:
        raise ValueError(f"'{attribute.name}' must be >= 0: {value!r}")


def unit_interval(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """``0 <= value <= 1``."""
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"'{attribute.name}' must be in [0, 1]: {value!r}")
