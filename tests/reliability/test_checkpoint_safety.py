"""Corrupt and foreign checkpoints are refused with a clear message and never unpickled.

Every checkpoint goes through :func:`spinlock.core.training.load_payload` (``torch.load(weights_only=True)``);
the VQ-VAE and NOA loaders add their format tag and check the stored config. Each bad file is tried through
the Python loaders and through the commands that take a model (exit 2, the file named, no traceback), and a
pickle whose ``__reduce__`` would create a marker file must never run.
"""

from __future__ import annotations

import io
import os
import pickle
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
vqvae_checkpoint = pytest.importorskip("spinlock.vqvae.checkpoint")
noa_checkpoint = pytest.importorskip("spinlock.noa.checkpoint")

from spinlock.core.testing.datasets import make_tiny_dataset  # noqa: E402
from spinlock.core.training import CheckpointError, load_payload, save_payload  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


class Exploit:
    """Unpickling this object creates the file at ``path``: the test fails if it ever exists."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        return (os.makedirs, (str(self.path),))


def _torch_bytes(obj: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def _valid_payload_bytes(tmp: Path) -> bytes:
    path = tmp / "valid.pt"
    save_payload(
        path,
        {"config_yaml": "{}\n", "provenance": {}, "tokenizer": {}, "weights": {"w": torch.zeros(64, 64)}},
        format_name=vqvae_checkpoint.FORMAT,
        format_version=vqvae_checkpoint.FORMAT_VERSION,
    )
    return path.read_bytes()


VQVAE_VERSION = vqvae_checkpoint.FORMAT_VERSION


def _ours(fmt: str, version: Any = None, **payload: Any) -> bytes:
    """A payload of format ``fmt`` at ``version`` (default: the version its reader expects)."""
    if version is None:
        version = (
            vqvae_checkpoint.FORMAT_VERSION
            if fmt == vqvae_checkpoint.FORMAT
            else noa_checkpoint.FORMAT_VERSION
        )
    return _torch_bytes({"format": fmt, "format_version": version, **payload})


#: name → (bytes of the file given the marker path and a scratch folder, fragment of the message)
BAD_FILES: dict[str, tuple[Callable[[Path, Path], bytes], str]] = {
    "zero-length": (lambda _m, _t: b"", "not a readable Spinlock checkpoint"),
    "random bytes": (lambda _m, _t: os.urandom(4096), "not a readable Spinlock checkpoint"),
    "text": (lambda _m, _t: b"model weights go here\n", "not a readable Spinlock checkpoint"),
    "truncated": (lambda _m, t: _valid_payload_bytes(t)[:9000], "not a readable Spinlock checkpoint"),
    "plain pickle exploit": (lambda m, _t: pickle.dumps(Exploit(m)), "not a readable Spinlock checkpoint"),
    "torch.save exploit": (lambda m, _t: _torch_bytes({"weights": Exploit(m)}), "not a readable"),
    "torch.save of a module": (lambda _m, _t: _torch_bytes(torch.nn.Linear(2, 2)), "not a readable"),
    "foreign state dict": (lambda _m, _t: _torch_bytes(torch.nn.Linear(2, 2).state_dict()), "not a Spinlock"),
    "a list": (lambda _m, _t: _torch_bytes([1, 2, 3]), "not a Spinlock"),
}


def write_bad(kind: str, folder: Path, marker: Path) -> Path:
    make, _ = BAD_FILES[kind]
    path = folder / "model.pt"
    path.write_bytes(make(marker, folder))
    return path


@pytest.fixture
def marker(tmp_path: Path) -> Any:
    path = tmp_path / "PWNED"
    yield path
    assert not path.exists(), "a pickle was executed while loading a checkpoint"


@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_bad_files_are_refused_by_every_loader(tmp_path: Path, marker: Path, kind: str) -> None:
    path = write_bad(kind, tmp_path, marker)
    _, fragment = BAD_FILES[kind]
    loaders = [vqvae_checkpoint.load_checkpoint, noa_checkpoint.load_checkpoint]
    for load in loaders:
        with pytest.raises(CheckpointError) as info:
            load(path)
        assert str(path) in str(info.value) and fragment in str(info.value), str(info.value)
    from spinlock.vqvae.tokenizer import Tokenizer

    with pytest.raises(CheckpointError, match=re.escape(str(path))):
        Tokenizer.load(tmp_path)  # a directory resolves to its model.pt


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (
            lambda: _ours(vqvae_checkpoint.FORMAT, VQVAE_VERSION + 1),
            f"format version {VQVAE_VERSION + 1} is newer than this reader's ({VQVAE_VERSION})",
        ),
        (
            lambda: _ours(vqvae_checkpoint.FORMAT, 1),
            "format version 1 was written by an older spinlock-vqvae",
        ),
        (lambda: _ours(vqvae_checkpoint.FORMAT, "1"), "format version '1' is newer"),
        (lambda: _ours(noa_checkpoint.FORMAT), "not a Spinlock VQ-VAE checkpoint"),  # the agent's, not ours
        (lambda: _ours(vqvae_checkpoint.FORMAT), "incomplete or damaged checkpoint"),  # no config_yaml
        (
            lambda: _ours(
                vqvae_checkpoint.FORMAT, config_yaml="model: [", provenance={}, tokenizer={}, weights={}
            ),
            "invalid YAML",
        ),
        (
            lambda: _ours(
                vqvae_checkpoint.FORMAT,
                config_yaml="training: {epochs: 0}",
                provenance={},
                tokenizer={},
                weights={},
            ),
            "'epochs' must be >= 1",
        ),
        (
            lambda: _ours(
                vqvae_checkpoint.FORMAT, config_yaml="{}", provenance={}, tokenizer={}, weights="ab"
            ),
            "incomplete or damaged checkpoint",
        ),
        (
            lambda: _ours(
                vqvae_checkpoint.FORMAT, config_yaml="{}", provenance=[1], tokenizer={}, weights={}
            ),
            "incomplete or damaged checkpoint",
        ),
    ],
)
def test_our_format_with_bad_contents_is_refused(
    tmp_path: Path, make: Callable[[], bytes], fragment: str
) -> None:
    path = tmp_path / "model.pt"
    path.write_bytes(make())
    with pytest.raises(CheckpointError) as info:
        vqvae_checkpoint.load_checkpoint(path)
    assert str(info.value).startswith(f"{path}: ") and fragment in str(info.value), str(info.value)


def test_missing_file_and_directory_without_a_model(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        load_payload(tmp_path / "nope.pt", format_name="x", format_version=1, what="x", hint="make one")
    from spinlock.vqvae.tokenizer import Tokenizer

    with pytest.raises(CheckpointError, match=r"model\.pt: no such checkpoint file \(train one"):
        Tokenizer.load(tmp_path)


# -- through the command line ---------------------------------------------------------------------------


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    return make_tiny_dataset(tmp_path / "data.h5", n=4, size=8)


#: command → argv using the model (a directory holding the bad model.pt) and a valid dataset
MODEL_COMMANDS: dict[str, Callable[[Path, Path, Path], list[str]]] = {
    "tokenize": lambda m, d, _o: ["tokenize", "-m", str(m), "-d", str(d)],
    "train-noa": lambda m, d, o: ["train-noa", "-d", str(d), "--vqvae", str(m), "-o", str(o), "-q"],
    "noa predict": lambda m, d, _o: ["noa", "predict", "-m", str(m), "-d", str(d), "-i", "0"],
    "visualize vqvae": lambda m, _d, o: ["visualize", "vqvae", str(m), "-o", str(o)],
}  # `report --model` reads only the folder's metrics.json, never the checkpoint


@pytest.mark.parametrize("command", list(MODEL_COMMANDS))
@pytest.mark.parametrize("kind", ["zero-length", "truncated", "plain pickle exploit", "torch.save exploit"])
def test_commands_refuse_bad_models_with_exit_2(
    cli: Any, clean_failure: Any, tmp_path: Path, dataset: Path, marker: Path, command: str, kind: str
) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    path = write_bad(kind, folder, marker)
    result = cli(*MODEL_COMMANDS[command](folder, dataset, tmp_path / "out"))
    clean_failure(result, str(path), "not a readable Spinlock checkpoint")


def test_train_vqvae_resume_refuses_a_corrupt_last_checkpoint(
    cli: Any, clean_failure: Any, tmp_path: Path, dataset: Path, marker: Path
) -> None:
    out = tmp_path / "model"
    out.mkdir()
    (out / "last.pt").write_bytes(pickle.dumps(Exploit(marker)))
    config = tmp_path / "tokenizer.yaml"
    config.write_text("families: {static: [summary], temporal: temporal}\n")
    result = cli("train-vqvae", "-d", dataset, "-o", out, "-c", config, "--resume", "-q")
    clean_failure(result, str(out / "last.pt"), "not a readable Spinlock checkpoint")


# -- the code itself ------------------------------------------------------------------------------------

UNSAFE = re.compile(
    r"\bpickle\.loads?\(|\bdill\.|\bjoblib\.load\(|weights_only\s*=\s*False|\bnp\.load\([^)]*allow_pickle\s*=\s*True"
)


def test_every_torch_load_in_the_sources_is_weights_only() -> None:
    sources = sorted(ROOT.glob("spinlock-*/src/**/*.py")) + sorted(ROOT.glob("examples/*/src/**/*.py"))
    assert sources
    calls = []
    for path in sources:
        text = path.read_text(encoding="utf-8")
        assert not UNSAFE.search(text), f"{path}: unsafe deserialisation {UNSAFE.search(text)}"
        for match in re.finditer(r"torch\.load\(", text):
            call = text[match.start() : text.find(")", match.start()) + 1]
            calls.append((path, call))
            assert "weights_only=True" in call, f"{path}: {call}"
    assert calls, "load_payload's torch.load is found"
