"""Configuration errors that name the path and the reason.

Every problem reads ``<reason> @ <path>``, e.g. ``'modes' must be >= 1: 0 @ $.operator.params.modes``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import attrs
from cattrs.errors import (
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
)

from spinlock.core.registry import suggest

ROOT = "$"


@attrs.frozen
class ConfigProblem:
    """One thing wrong with a config: where (``$.a.b[0]``) and why."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.message} @ {self.path}"


class ConfigError(ValueError):
    """A config could not be loaded; ``problems`` lists every reason found."""

    def __init__(self, problems: Iterable[ConfigProblem], source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        super().__init__(self.render())

    def render(self) -> str:
        head = f"invalid config {self.source}" if self.source else "invalid config"
        if len(self.problems) == 1:
            return f"{head}: {self.problems[0]}"
        return head + ":\n" + "\n".join(f"  - {p}" for p in self.problems)


def config_error(path: str, message: str, source: str | None = None) -> ConfigError:
    return ConfigError([ConfigProblem(path, message)], source)


_ATTR_MESSAGE = re.compile(r"^'(?P<name>[A-Za-z_][A-Za-z0-9_]*)' ")


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _child_path(path: str, key: Any) -> str:
    if isinstance(key, str) and key.isidentifier():
        return f"{path}.{key}"
    return f"{path}[{key!r}]"


def problems_from_exception(exc: BaseException, path: str = ROOT) -> list[ConfigProblem]:
    """Flatten a cattrs structuring error tree into path-bearing problems."""
    if isinstance(exc, ConfigError):
        return [
            ConfigProblem(path + p.path[len(ROOT) :] if p.path.startswith(ROOT) else path, p.message)
            for p in exc.problems
        ]
    if isinstance(exc, ClassValidationError | IterableValidationError):
        problems: list[ConfigProblem] = []
        with_notes, without_notes = exc.group_exceptions()
        for inner, note in with_notes:
            key = getattr(note, "name", None)
            if key is None:
                key = getattr(note, "index", None)
            child = _child_path(path, key)
            if isinstance(inner, KeyError) and not isinstance(inner, ConfigError):
                problems.append(ConfigProblem(child, "required key is missing"))
            elif isinstance(inner, ClassValidationError | IterableValidationError | ConfigError):
                problems += problems_from_exception(inner, child)
            else:
                problems.append(ConfigProblem(child, _typed_message(inner, getattr(note, "type", None))))
        for inner in without_notes:
            problems += _leaf_problems(inner, path, getattr(exc, "cl", None))
        return problems
    return _leaf_problems(exc, path, None)


def _leaf_message(exc: BaseException) -> str:
    text = str(exc)
    return text if text else type(exc).__name__


def _typed_message(exc: BaseException, tp: Any) -> str:
    """The reason, prefixed with the expected type where that adds something (not for ``Any``, unions of
    classes, or reasons that already say what was expected)."""
    message = _leaf_message(exc)
    name = _type_name(tp)
    if tp is None or tp is Any or not isinstance(exc, TypeError) or message.startswith("expected"):
        return message
    if "|" in name or name.startswith(("Union", "Optional")):
        return message
    return f"expected {name}: {message}"


def _leaf_problems(exc: BaseException, path: str, cls: Any) -> list[ConfigProblem]:
    if isinstance(exc, ForbiddenExtraKeysError):
        allowed = [a.name for a in attrs.fields(exc.cl)] if attrs.has(exc.cl) else []
        out = []
        for key in sorted(exc.extra_fields, key=repr):  # YAML keys may be ints, None, ... as well
            message = f"unknown key {key!r}"
            guess = suggest(key, allowed) if isinstance(key, str) else None
            if guess:
                message += f" (did you mean {guess!r}?)"
            if allowed:
                message += "; allowed keys: " + ", ".join(allowed)
            out.append(ConfigProblem(path, message))
        return out
    if isinstance(exc, ClassValidationError | IterableValidationError | ConfigError):
        return problems_from_exception(exc, path)
    message = _leaf_message(exc)
    match = _ATTR_MESSAGE.match(message)
    if match and cls is not None and attrs.has(cls) and match["name"] in attrs.fields_dict(cls):
        return [ConfigProblem(_child_path(path, match["name"]), message)]
    return [ConfigProblem(path, message)]
