"""Bad dataset files: every command that reads a dataset fails with exit 2, naming the file and the problem.

Files that cannot be opened as a Spinlock dataset (text, empty, truncated, a plain HDF5 file from another
tool, a newer format version, a directory, a missing file, a file held open for writing by another
process), and Spinlock files whose layout is damaged (a missing group, a per-sample array with the wrong
number of rows, the wrong dtype or rank). ``spinlock validate`` lists every problem of a damaged file, one
line each.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from spinlock.core.testing.datasets import (
    BROKEN_KINDS,
    held_open_for_writing,
    make_broken_file,
    make_tiny_dataset,
)

pytest.importorskip("spinlock.features")
pytest.importorskip("spinlock.vqvae")

#: command name → argv reading the dataset at the given path (outputs go under the second path)
READERS: dict[str, Callable[[Path, Path], list[str]]] = {
    "info": lambda d, _o: ["info", str(d)],
    "validate": lambda d, _o: ["validate", str(d)],
    "extract": lambda d, _o: ["extract", str(d), "-q"],
    "visualize features": lambda d, o: ["visualize", "features", str(d), "-o", str(o / "pictures")],
    "visualize rollouts": lambda d, o: ["visualize", "rollouts", str(d), "-o", str(o / "rollouts")],
    "report": lambda d, o: ["report", str(d), "-o", str(o / "report.html")],
    "train-vqvae": lambda d, o: ["train-vqvae", "-d", str(d), "-o", str(o / "model"), "-q"],
    "generate --resume": lambda d, _o: ["generate", "-o", str(d), "--resume", "-q"],
}

#: (command, unreadable kind) pairs that are not a failure: resuming a file that does not exist yet starts it
NOT_AN_ERROR = {("generate --resume", "missing")}

#: what the message says for each unreadable file
UNREADABLE: dict[str, str] = {
    "text": "is not an HDF5 file",
    "empty": "is empty",
    "truncated": "is truncated or corrupt",
    "foreign": "not a Spinlock dataset",
    "newer_version": "format version 7 is newer",
    "missing": "no such file",
    "directory": "is a directory",
}


def make_unreadable(path: Path, kind: str) -> Path:
    if kind == "directory":
        path.mkdir()
    elif kind != "missing":
        make_broken_file(path, kind)  # type: ignore[arg-type]
    return path


@pytest.fixture(scope="module")
def tiny_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_dataset(tmp_path_factory.mktemp("template") / "tiny.h5", n=8, size=8, steps=4)


@pytest.fixture
def tiny(tiny_template: Path, tmp_path: Path) -> Path:
    """A fresh copy of a valid tiny dataset (commands such as ``extract`` write into it)."""
    return Path(shutil.copy(tiny_template, tmp_path / "tiny.h5"))


def test_unreadable_kinds_cover_the_shipped_broken_files() -> None:
    assert set(BROKEN_KINDS) <= set(UNREADABLE)


@pytest.mark.parametrize(
    ("command", "kind"),
    [(c, k) for k in UNREADABLE for c in READERS if (c, k) not in NOT_AN_ERROR],
)
def test_unreadable_files_exit_2_naming_file_and_problem(
    cli: Any, clean_failure: Any, tmp_path: Path, command: str, kind: str
) -> None:
    path = make_unreadable(tmp_path / f"{kind}.h5", kind)
    result = cli(*READERS[command](path, tmp_path))
    clean_failure(result, str(path), UNREADABLE[kind])
    if kind not in ("missing", "directory"):
        assert path.is_file(), "a reader must not delete or replace the file"


# -- damaged layouts ------------------------------------------------------------------------------------


def _replace(name: str, data: np.ndarray) -> Callable[[h5py.File], None]:
    def edit(f: h5py.File) -> None:
        attrs = dict(f[name].attrs)
        del f[name]
        f[name] = data
        f[name].attrs.update(attrs)

    return edit


def _delete(name: str) -> Callable[[h5py.File], None]:
    def edit(f: h5py.File) -> None:
        del f[name]

    return edit


#: name → (edit of a valid tiny dataset, the object the message must name)
DAMAGE: dict[str, tuple[Callable[[h5py.File], None], str]] = {
    "missing initial conditions": (_delete("initial_conditions"), "/initial_conditions/"),
    "missing parameters": (_delete("parameters"), "/parameters/unit"),
    "features with 3 of 8 rows": (
        _replace("features/summary/values", np.zeros((3, 3), np.float32)),
        "/features/summary/values",
    ),
    "trajectories of strings": (
        _replace("trajectories/fields", np.array([b"abc"] * 8)),
        "/trajectories/fields",
    ),
    "initial conditions without a channel axis": (
        _replace("initial_conditions/fields", np.zeros((8, 8, 8), np.float32)),
        "/initial_conditions/fields",
    ),
}

#: commands that must notice each damage (a command that never reads the damaged object may succeed);
#: the ones that draw pictures before they reach the damage are slow
DAMAGE_READERS = [
    "info",
    "extract",
    "visualize rollouts",
    "train-vqvae",
    pytest.param("visualize features", marks=pytest.mark.slow),
    pytest.param("report", marks=pytest.mark.slow),
]


def damaged(tiny: Path, damage: str) -> Path:
    edit, _ = DAMAGE[damage]
    with h5py.File(tiny, "r+") as f:
        edit(f)
    return tiny


@pytest.mark.parametrize("command", DAMAGE_READERS)
@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_layouts_fail_cleanly(
    cli: Any, tiny: Path, tmp_path: Path, command: str, damage: str
) -> None:
    path = damaged(tiny, damage)
    result = cli(*READERS[command](path, tmp_path))
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    if result.exit_code == 0:  # the command does not read what was damaged
        return
    assert result.exit_code == 2, result.output
    assert "error: " in result.stderr and str(path) in result.stderr, result.stderr


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_every_damage_is_caught_by_some_reader_and_by_validate(
    cli: Any, tiny: Path, tmp_path: Path, damage: str
) -> None:
    path = damaged(tiny, damage)
    _, where = DAMAGE[damage]
    checked = cli("validate", path)
    assert checked.exit_code == 1 and where in checked.stdout, checked.output
    # the cheap readers that touch every array: info reads the ICs' shape, train-vqvae the features
    failures = [cli(*READERS[c](path, tmp_path)) for c in ("info", "extract", "train-vqvae")]
    assert any(r.exit_code == 2 and str(path) in r.stderr for r in failures), [r.output for r in failures]


def test_validate_lists_each_problem_on_its_own_line(cli: Any, tiny: Path) -> None:
    with h5py.File(tiny, "r+") as f:
        del f["initial_conditions/types"]
        f["parameters/unit"].attrs["names"] = '["modes"]'
        _replace("features/summary/values", np.zeros((3, 3), np.float32))(f)
        f["rollout/status"][0] = "exploded"
        f.attrs["seed"] = "zero"
    result = cli("validate", tiny)
    assert result.exit_code == 1, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0] == f"{tiny}: {len(lines) - 1} problems"
    expected = {
        "/initial_conditions/types: missing",
        "/parameters/unit: attribute 'names' has 1 entries for 4 columns",
        "/features/summary/values",
        "/rollout/status: invalid statuses ['exploded']",
        "/: root attribute 'seed' must be an integer",
    }
    for fragment in expected:
        assert sum(line.strip().startswith(fragment) for line in lines[1:]) >= 1, (fragment, lines)
    assert len(lines) - 1 >= len(expected)
    listed = json.loads(cli("validate", tiny, "--json").stdout)
    assert listed["valid"] is False and len(listed["problems"]) == len(lines) - 1


# -- a file open for writing in another process ---------------------------------------------------------

WRITER_SCRIPT = """
import sys, time
from spinlock.core.storage import DatasetWriter
writer = DatasetWriter.open_for_extraction(sys.argv[1])
print("open", flush=True)
time.sleep(60)
"""


@contextmanager
def held_by_a_dataset_writer(path: Path) -> Iterator[None]:
    """Another process holds ``path`` through a :class:`DatasetWriter` for the block."""
    env = {**__import__("os").environ, "HDF5_USE_FILE_LOCKING": "TRUE"}
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER_SCRIPT, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != b"open":
            raise RuntimeError(f"helper could not open {path}: {proc.stderr.read() if proc.stderr else ''}")
        yield
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("holder", ["h5py", "DatasetWriter"])
def test_a_file_being_written_elsewhere_is_refused(
    cli: Any, clean_failure: Any, tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, holder: str
) -> None:
    monkeypatch.setenv("HDF5_USE_FILE_LOCKING", "TRUE")
    before = tiny.read_bytes()
    hold = held_open_for_writing(tiny) if holder == "h5py" else held_by_a_dataset_writer(tiny)
    with hold:
        for command in READERS:
            result = cli(*READERS[command](tiny, tmp_path))
            clean_failure(result, str(tiny), "is open for writing by another process")
    assert cli("validate", tiny).exit_code == 0, "the file is intact after the other process went away"
    assert len(tiny.read_bytes()) == len(before)


# -- readers that need a trained tokenizer (slow: torch training) ---------------------------------------


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tokenizer trained for one epoch on a tiny dataset's ``summary`` and ``temporal`` families."""
    import attrs

    from spinlock.core.config import dump_config, make_converter
    from spinlock.vqvae.config import FamiliesConfig, TokenizerConfig, TrainingConfig
    from spinlock.vqvae.data import load_table
    from spinlock.vqvae.model_config import VQVAEConfig
    from spinlock.vqvae.training import train_tokenizer

    folder = tmp_path_factory.mktemp("tokenizer")
    data = make_tiny_dataset(folder / "train.h5", n=32, size=8)
    config = TokenizerConfig(
        families=FamiliesConfig(static=("summary",), temporal="temporal"),
        categories=attrs.evolve(TokenizerConfig().categories, n_categories=2, min_size=1, linkage="average"),
        model=VQVAEConfig(codebook_sizes=(2, 2, 2), latent_dim=2, hidden_dims=(8,)),
        training=TrainingConfig(epochs=1, batch_size=16, patience=0, validation_fraction=0.0),
    )
    table = load_table(data, config.families.static_families(), config.families.temporal)
    train_tokenizer(table, config, folder / "model", config_yaml=dump_config(config, make_converter()))
    return folder / "model"


@pytest.mark.slow
@pytest.mark.parametrize("kind", [*UNREADABLE, *DAMAGE])
def test_tokenize_and_train_noa_refuse_bad_datasets(
    cli: Any, tokenizer_dir: Path, tiny: Path, tmp_path: Path, kind: str
) -> None:
    pytest.importorskip("spinlock.noa")
    path = damaged(tiny, kind) if kind in DAMAGE else make_unreadable(tmp_path / f"{kind}.h5", kind)
    for argv in (
        ["tokenize", "-m", str(tokenizer_dir), "-d", str(path)],
        ["train-noa", "-d", str(path), "--vqvae", str(tokenizer_dir), "-o", str(tmp_path / "agent"), "-q"],
    ):
        result = cli(*argv)
        assert "Traceback" not in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit), (argv, result.exception)
        if kind in DAMAGE and result.exit_code == 0:
            continue  # tokenize reads only the features it needs
        assert result.exit_code == 2, (argv, result.output)
        assert str(path) in result.stderr, (argv, result.stderr)
