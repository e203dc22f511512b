"""Reading and writing configs as YAML, with errors that point at the file."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, TypeVar

import cattrs
import yaml

from spinlock.core.config.converter import structure
from spinlock.core.config.errors import ROOT, config_error

T = TypeVar("T")


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads ``1e4`` and ``1.0e4`` as floats (YAML 1.1 wants ``1.0e+4``)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def _construct_mapping_without_duplicates(loader: yaml.SafeLoader, node: yaml.MappingNode) -> Any:
    """A mapping, refusing a key written twice (YAML would silently keep the last value)."""
    seen: set[Any] = set()
    for key_node, _value in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = key in seen
            seen.add(key)
        except TypeError:  # an unhashable key: construct_mapping says so
            continue
        if duplicate:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark, f"duplicate key {key!r}", key_node.start_mark
            )
    return loader.construct_mapping(node, deep=True)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping_without_duplicates)


def parse_yaml(text: str, source: str | None = None) -> Any:
    """Parse YAML text into plain data; syntax errors name the line and column."""
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        raise config_error(ROOT, f"invalid YAML at {where}: {exc.problem or exc}", source) from None
    except yaml.YAMLError as exc:
        raise config_error(ROOT, f"invalid YAML: {exc}", source) from None


def read_config_text(path: str | Path) -> str:
    """The text of a config file; a missing, unreadable, binary or non-UTF-8 file is a :class:`ConfigError`."""
    path = Path(path)
    source = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise config_error(ROOT, "file not found", source) from None
    except IsADirectoryError:
        raise config_error(ROOT, "is a directory, not a YAML file", source) from None
    except OSError as exc:
        raise config_error(ROOT, f"cannot read file: {exc.strerror or exc}", source) from None
    if b"\x00" in raw:
        raise config_error(ROOT, "is a binary file, not YAML text", source)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise config_error(ROOT, "is not UTF-8 text", source) from None
    return text


def read_yaml_file(path: str | Path) -> Any:
    """Read a YAML file into a mapping; missing, unreadable, binary or empty files are a :class:`ConfigError`."""
    source = str(path)
    data = parse_yaml(read_config_text(path), source)
    if data is None:
        raise config_error(ROOT, "the file is empty", source)
    if not isinstance(data, dict):
        raise config_error(ROOT, f"expected a mapping at the top level, got {type(data).__name__}", source)
    return data


def load_config(path: str | Path, cls: type[T], converter: cattrs.Converter) -> T:
    """Read ``path`` and structure it into ``cls``."""
    result: T = structure(read_yaml_file(path), cls, converter, str(path))
    return result


def loads_config(text: str, cls: type[T], converter: cattrs.Converter, source: str | None = None) -> T:
    """Structure YAML ``text`` into ``cls``."""
    data = parse_yaml(text, source)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise config_error(ROOT, f"expected a mapping at the top level, got {type(data).__name__}", source)
    result: T = structure(data, cls, converter, source)
    return result


def dump_config(config: Any, converter: cattrs.Converter) -> str:
    """YAML text of a config (plain data only: safe to store in datasets and checkpoints)."""
    return yaml.safe_dump(converter.unstructure(config), sort_keys=False)
