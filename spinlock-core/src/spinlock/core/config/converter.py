"""The one cattrs converter every Spinlock config goes through.

- unknown keys are rejected (``forbid_extra_keys``);
- primitives are strict: ``"5"`` is not an int, ``2.7`` is not an int, ``"no"`` is not a bool;
- containers are strict too: a section needs a mapping, a list needs a list (``features: summary`` is not
  read as the list of its letters);
- ``{kind, params}`` references are resolved through the plugin registries;
- parameter-space entries are a tagged union on ``type``.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from typing import Any

import attrs
import cattrs
from cattrs.cols import (
    homogenous_tuple_structure_factory,
    is_mapping,
    is_mutable_sequence,
    is_sequence,
    list_structure_factory,
    mapping_structure_factory,
)
from cattrs.errors import AttributeValidationNote, ClassValidationError

from spinlock.core.config.components import ComponentRef
from spinlock.core.config.errors import ROOT, ConfigError, config_error, problems_from_exception
from spinlock.core.registry import Components, UnknownComponentError, unknown_name_message


def _strict_int(value: Any, _type: type) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {value!r}")
    return value


def _strict_float(value: Any, _type: type) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {value!r}")
    return float(value)


def _strict_bool(value: Any, _type: type) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected true or false, got {value!r}")
    return value


def _strict_str(value: Any, _type: type) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {value!r}")
    return value


_SCALARS = (bool, int, float, str)


def _is_scalar_union(tp: Any) -> bool:
    args = typing.get_args(tp)
    return (
        typing.get_origin(tp) in (typing.Union, types.UnionType) and bool(args) and set(args) <= set(_SCALARS)
    )


def _structure_scalar_union(value: Any, tp: Any) -> Any:
    if type(value) in typing.get_args(tp):
        return value
    if float in typing.get_args(tp) and type(value) is int:
        return float(value)
    names = " or ".join(t.__name__ for t in typing.get_args(tp))
    raise TypeError(f"expected {names}, got {value!r}")


def _require_mapping(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise TypeError(f"expected a mapping for {what}, got {type(value).__name__} {value!r}")
    return value


def _describe(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"


def _mapping_only(inner: Any, what: str) -> Any:
    """``inner`` (a cattrs hook) behind a check that the YAML value is a mapping."""

    def hook(value: Any, tp: Any) -> Any:
        if not isinstance(value, Mapping):
            raise TypeError(f"expected a mapping ({what}), got {_describe(value)}")
        return inner(value, tp)

    return hook


def _list_only(inner: Any) -> Any:
    """``inner`` (a cattrs hook) behind a check that the YAML value is a list (a string is not)."""

    def hook(value: Any, tp: Any) -> Any:
        if not isinstance(value, list | tuple):
            raise TypeError(f"expected a list, got {_describe(value)}")
        return inner(value, tp)

    return hook


def _register_containers(converter: cattrs.Converter) -> None:
    """Sections, mappings and lists accept only their own YAML shape (cattrs accepts any iterable)."""

    def attrs_hook(cls: Any, conv: cattrs.Converter) -> Any:
        return _mapping_only(conv.gen_structure_attrs_fromdict(cls), f"the {cls.__name__} section")

    def mapping_hook(tp: Any, conv: cattrs.Converter) -> Any:
        return _mapping_only(mapping_structure_factory(tp, conv), "name: value pairs")

    def sequence_hook(tp: Any, conv: cattrs.Converter) -> Any:
        factory = list_structure_factory if is_mutable_sequence(tp) else homogenous_tuple_structure_factory
        return _list_only(factory(tp, conv))

    converter.register_structure_hook_factory(attrs.has, attrs_hook)
    converter.register_structure_hook_factory(is_mapping, mapping_hook)
    converter.register_structure_hook_factory(
        lambda t: is_sequence(t) or is_mutable_sequence(t), sequence_hook
    )


def _wrap(cls: type, key: str, exc: Exception) -> ClassValidationError:
    exc.__notes__ = [*getattr(exc, "__notes__", []), AttributeValidationNote(f"@ {key}", key, Any)]
    return ClassValidationError(f"While structuring {cls.__name__}", [exc], cls)


def make_converter(components: Components | None = None) -> cattrs.Converter:
    """A converter for Spinlock configs.

    :param components: registries used to resolve ``{kind, params}`` references; without them, a config
        that contains a reference fails with a clear message.
    """
    converter = cattrs.Converter(forbid_extra_keys=True)
    _register_containers(converter)
    converter.register_structure_hook(int, _strict_int)
    converter.register_structure_hook(float, _strict_float)
    converter.register_structure_hook(bool, _strict_bool)
    converter.register_structure_hook(str, _strict_str)
    converter.register_structure_hook_func(_is_scalar_union, _structure_scalar_union)

    def structure_ref(value: Any, cls: type[ComponentRef]) -> ComponentRef:
        if isinstance(value, str):  # shorthand: `operator: cnn`
            value = {"kind": value}
        data = dict(_require_mapping(value, "a component reference {kind, params}"))
        allowed = {a.name for a in attrs.fields(cls)}
        extra = set(data) - allowed
        if extra:
            raise ClassValidationError(
                f"While structuring {cls.__name__}", [cattrs.ForbiddenExtraKeysError("", cls, extra)], cls
            )
        if "kind" not in data:
            raise _wrap(cls, "kind", KeyError("kind"))
        name = data.pop("kind")
        if not isinstance(name, str):
            raise _wrap(cls, "kind", TypeError(f"expected a component name, got {name!r}"))
        if components is None:
            raise _wrap(cls, "kind", ValueError("no plugin registry available to resolve component names"))
        try:
            spec = components.get(cls.component_kind, name)
        except UnknownComponentError as exc:
            raise _wrap(
                cls, "kind", ValueError(unknown_name_message(cls.component_kind.value, name, exc.available))
            ) from None
        raw_params = data.pop("params", None) or {}
        try:
            params: Any = converter.structure(_require_mapping(raw_params, "params"), spec.config_cls)
        except Exception as exc:  # re-rooted under `.params`
            raise _wrap(cls, "params", exc) from None
        others = {}
        for key, raw in data.items():
            try:
                others[key] = converter.structure(raw, typing.get_type_hints(cls)[key])
            except Exception as exc:
                raise _wrap(cls, key, exc) from None
        try:
            return cls(kind=name, params=params, **others)
        except Exception as exc:
            raise ClassValidationError(f"While structuring {cls.__name__}", [exc], cls) from None

    def unstructure_ref(ref: ComponentRef) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": ref.kind, "params": converter.unstructure(ref.params)}
        for field in attrs.fields(type(ref)):
            if field.name not in ("kind", "params"):
                out[field.name] = converter.unstructure(getattr(ref, field.name))
        return out

    is_ref = lambda t: isinstance(t, type) and issubclass(t, ComponentRef)  # noqa: E731
    converter.register_structure_hook_func(is_ref, structure_ref)
    converter.register_unstructure_hook_func(is_ref, unstructure_ref)
    _register_parameter_union(converter)
    return converter


def _register_parameter_union(converter: cattrs.Converter) -> None:
    from spinlock.core.config.run import ParameterSpec
    from spinlock.core.sampling.parameter_space import PARAMETER_TYPES

    def structure_parameter(value: Any, _type: Any) -> Any:
        data = dict(_require_mapping(value, "a parameter {type: ..., ...}"))
        tag = data.pop("type", None)
        if tag is None:
            raise config_error(
                ROOT + ".type", "required key is missing (one of " + ", ".join(PARAMETER_TYPES) + ")"
            )
        if not isinstance(tag, str):
            raise config_error(
                ROOT + ".type", f"expected a parameter type ({', '.join(PARAMETER_TYPES)}), got {tag!r}"
            )
        if tag not in PARAMETER_TYPES:
            raise config_error(
                ROOT + ".type", unknown_name_message("parameter type", str(tag), list(PARAMETER_TYPES))
            )
        return converter.structure(data, PARAMETER_TYPES[tag])

    def unstructure_parameter(param: Any) -> dict[str, Any]:
        return {"type": type(param).type_name, **converter.unstructure_attrs_asdict(param)}

    converter.register_structure_hook(ParameterSpec, structure_parameter)
    for cls in PARAMETER_TYPES.values():
        converter.register_unstructure_hook(cls, unstructure_parameter)


def structure(data: Any, cls: type, converter: cattrs.Converter, source: str | None = None) -> Any:
    """Structure ``data`` into ``cls``, turning any failure into a :class:`ConfigError`."""
    try:
        return converter.structure(data, cls)
    except ConfigError as exc:
        raise ConfigError(exc.problems, source) from None
    except Exception as exc:
        raise ConfigError(problems_from_exception(exc), source) from None
