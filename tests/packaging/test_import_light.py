"""Loading plugins and listing them imports no torch (DESIGN §2: `spinlock list-plugins` starts fast).

Each check runs in a fresh interpreter, since the test process itself may already have imported torch.
Every installed plugin takes part: a first-party or third-party plugin module that imports torch at load
time fails here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

HEAVY = ("torch", "sklearn", "matplotlib", "dask")


REPORT = f"""
import json, sys
print("HEAVY=" + json.dumps([m for m in {HEAVY!r} if m in sys.modules]), file=sys.stderr)
"""


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter, then report which heavy modules it left imported."""
    env = {**os.environ, "SPINLOCK_STRICT_PLUGINS": "1"}
    source = textwrap.dedent(code) + REPORT
    return subprocess.run(
        [sys.executable, "-c", source], capture_output=True, text=True, env=env, timeout=120
    )


def heavy_modules(proc: subprocess.CompletedProcess[str]) -> list[str]:
    assert proc.returncode == 0, proc.stderr
    line = [ln for ln in proc.stderr.splitlines() if ln.startswith("HEAVY=")][-1]
    return json.loads(line.removeprefix("HEAVY="))


def test_building_the_plugin_manager_imports_no_torch():
    proc = run_python(
        """
        import spinlock.core
        from spinlock.core.plugins import build_plugin_manager
        manager = build_plugin_manager()
        assert not manager.failures, manager.failures
        assert "sobol" in manager.components["sampler"]
        """
    )
    assert heavy_modules(proc) == []


def test_list_plugins_json_imports_no_torch():
    proc = run_python(
        """
        import sys
        from spinlock.core.cli import main
        try:
            main(["list-plugins", "--json"])
        except SystemExit as exc:
            assert exc.code in (0, None), exc.code
        sys.stdout.flush()
        """
    )
    assert heavy_modules(proc) == []
    plugins = json.loads(proc.stdout)
    assert [p for p in plugins if p["error"]] == []
    core = [p for p in plugins if p["distribution"] == "spinlock-core"]
    assert core, plugins
    assert "sobol" in core[0]["components"]["sampler"]
