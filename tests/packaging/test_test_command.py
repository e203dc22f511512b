"""The README's test command, `.ci/run` and nox's default sessions name the same sessions."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _sessions(command: str) -> list[str]:
    return command.split("nox -s", 1)[1].split()


def test_readme_ci_and_noxfile_agree() -> None:
    readme = (ROOT / "README.md").read_text()
    readme_cmd = next(line for line in readme.splitlines() if "nox -s lint" in line)
    ci = re.search(r'TEST_COMMAND="([^"]+)"', (ROOT / ".ci" / "run").read_text())
    assert ci is not None
    block = re.search(r"nox\.options\.sessions = \[(.*?)\]", (ROOT / "noxfile.py").read_text(), re.S)
    assert block is not None
    nox_sessions = re.findall(r'"(\w+)"', block.group(1))
    assert _sessions(readme_cmd) == _sessions(ci.group(1)) == nox_sessions
