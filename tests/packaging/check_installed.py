"""Check an environment where Spinlock distributions were pip-installed (used by nox sessions).

Runs ``spinlock list-plugins --json`` with the ``spinlock`` console script of the current environment,
checks that it parses, that no plugin failed, and that the expected plugins and components are listed::

    python tests/packaging/check_installed.py --import spinlock.features \
        --plugin features:spinlock-features --component sampler:sobol

Not a test module (pytest does not collect it); ``nox -s wheel_smoke`` and ``nox -s example_plugin`` run it
from a directory outside the repository so that nothing is imported from the source tree.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import subprocess
import sys

# Listing plugins must not import torch, whatever is installed (plugin modules name factories lazily).
LIGHT_CHECK = """
import contextlib, io, sys
from spinlock.core.cli import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
    main(["list-plugins", "--json"])
print("torch imported:", "torch" in sys.modules, file=sys.stderr)
"""


def fail(message: str) -> None:
    print(f"check_installed: FAIL: {message}", file=sys.stderr)
    raise SystemExit(1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--import", dest="imports", action="append", default=[], help="module to import")
    parser.add_argument(
        "--plugin", action="append", default=[], help="NAME:DISTRIBUTION that must be listed and loaded"
    )
    parser.add_argument("--component", action="append", default=[], help="KIND:NAME that must be listed")
    args = parser.parse_args(argv)

    for module_name in args.imports:
        module = importlib.import_module(module_name)
        origin = getattr(module, "__file__", None) or ""
        if "site-packages" not in origin:
            fail(f"{module_name} was imported from {origin!r}, not from the installed distribution")
        print(f"check_installed: import {module_name} ok ({getattr(module, '__version__', '?')})")

    import spinlock

    if getattr(spinlock, "__file__", None) is not None:
        fail(f"spinlock is a regular package ({spinlock.__file__}); it must be a PEP 420 namespace")

    exe = shutil.which("spinlock")
    if exe is None:
        fail("the `spinlock` console script is not on PATH")
    env = {**os.environ, "SPINLOCK_STRICT_PLUGINS": "1"}
    version = subprocess.run([exe, "--version"], capture_output=True, text=True, env=env)
    if version.returncode != 0:
        fail(f"`spinlock --version` exited {version.returncode}:\n{version.stdout}{version.stderr}")
    proc = subprocess.run([exe, "list-plugins", "--json"], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        fail(f"`spinlock list-plugins --json` exited {proc.returncode}:\n{proc.stdout}{proc.stderr}")
    try:
        plugins = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        fail(f"`spinlock list-plugins --json` did not print JSON ({exc}):\n{proc.stdout}")
    if not isinstance(plugins, list):
        fail(f"expected a JSON list of plugins, got {type(plugins).__name__}")

    broken = [p for p in plugins if p.get("error")]
    if broken:
        fail("plugins failed to load: " + "; ".join(f"{p['name']}: {p['error']}" for p in broken))
    by_name = {p["name"]: p for p in plugins}
    for item in args.plugin:
        name, _, distribution = item.partition(":")
        if name not in by_name:
            fail(f"plugin {name!r} is not listed; listed: {sorted(by_name)}")
        if distribution and by_name[name].get("distribution") != distribution:
            fail(
                f"plugin {name!r} comes from {by_name[name].get('distribution')!r}, expected {distribution!r}"
            )
    listed = {
        (kind, component)
        for p in plugins
        for kind, names in (p.get("components") or {}).items()
        for component in names
    }
    for item in args.component:
        kind, _, component = item.partition(":")
        if (kind, component) not in listed:
            fail(f"component {kind}:{component} is not listed; listed: {sorted(listed)}")
    light = subprocess.run(
        [sys.executable, "-c", LIGHT_CHECK], capture_output=True, text=True, env=env, cwd=os.getcwd()
    )
    if light.returncode != 0 or light.stderr.strip().splitlines()[-1:] != ["torch imported: False"]:
        fail(f"listing plugins imported torch or failed:\n{light.stderr}")
    summary = ", ".join(f"{p['name']} ({p.get('distribution')} {p.get('version')})" for p in plugins)
    print(f"check_installed: list-plugins ok: {summary}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
