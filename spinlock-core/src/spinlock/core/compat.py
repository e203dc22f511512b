"""Whether a plugin's distribution accepts the installed spinlock-core.

A plugin declares the cores it works with the standard way, in its distribution's metadata:
``dependencies = ["spinlock-core>=0.1,<0.2"]`` (``Requires-Dist``). pip enforces that at install time, but
not when spinlock-core is upgraded later with ``--no-deps``, installed editable, or when plugins come from
another environment on ``PYTHONPATH``; so the plugin loader checks it again before importing the plugin.
"""

from __future__ import annotations

from collections.abc import Iterable

CORE_DISTRIBUTION = "spinlock-core"


def _canonical(name: str) -> str:
    return name.replace("_", "-").replace(".", "-").lower()


def core_requirement_problem(requires: Iterable[str], core_version: str) -> str | None:
    """Why a distribution with these ``Requires-Dist`` lines cannot use spinlock-core ``core_version``,
    or ``None`` when it can (or states no requirement on spinlock-core)."""
    lines = [line for line in requires if CORE_DISTRIBUTION in _canonical(line)]
    if not lines:
        return None
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.version import InvalidVersion, Version

    try:
        version = Version(core_version)
    except InvalidVersion:
        return None
    for line in lines:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        if _canonical(requirement.name) != CORE_DISTRIBUTION:
            continue
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        if not requirement.specifier.contains(version, prereleases=True):
            return (
                f"requires {CORE_DISTRIBUTION}{requirement.specifier} but {CORE_DISTRIBUTION} {core_version} "
                "is installed; install a version of the plugin made for this core, or a core it supports"
            )
    return None
