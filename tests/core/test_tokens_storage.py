"""Token sets ``/tokens/<tokenizer>/ids``: writing, replacing, reading, validating and ``spinlock info``."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from spinlock.core.storage import (
    DatasetError,
    DatasetWriter,
    TokenValues,
    layout,
    open_dataset,
    validate_dataset,
    writer as writer_module,
)
from spinlock.core.testing.datasets import make_tiny_dataset

N = 6
CATEGORIES = ("spatial", "temporal", "spectral", "stability")
LEVELS = ("coarse", "medium", "fine")
SIZES = (8, 4, 2)
MODEL = {"path": "runs/vqvae/model.pt", "sha256": "ab" * 32, "created": "2025-01-01T00:00:00Z"}
MODEL_CONFIG = "codebook_sizes: [8, 4, 2]\nlatent_dim: 16\n"


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    return make_tiny_dataset(tmp_path / "d.h5", n=N, size=8, steps=3, with_trajectories=False)


def _ids(rows: int, seed: int = 0, sizes: Any = SIZES, k: int = len(CATEGORIES)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    table = np.broadcast_to(np.asarray(sizes), (k, len(sizes) if np.ndim(sizes) == 1 else np.shape(sizes)[1]))
    return np.floor(rng.random((rows, *table.shape)) * table).astype(np.int64)


def _kwargs(**overrides: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "categories": CATEGORIES,
        "levels": LEVELS,
        "codebook_sizes": SIZES,
        "model": MODEL,
        "model_config": MODEL_CONFIG,
        "version": "1.0",
        "provider": "spinlock-vqvae 0.1.0",
    }
    kwargs.update(overrides)
    return kwargs


def _write(path: Path, name: str, ids: np.ndarray, **overrides: Any) -> None:
    indices = overrides.pop("indices", None)
    with DatasetWriter.open_for_extraction(path) as writer:
        writer.write_tokens(name, ids, indices=indices, **_kwargs(**overrides))


def _read(path: Path, name: str, indices: Any = None) -> TokenValues:
    with open_dataset(path) as reader:
        return reader.tokens(name, indices)


# -- round trip ---------------------------------------------------------------------------------------------


def test_round_trip_all_rows(dataset: Path) -> None:
    ids = _ids(N)
    ids[1, 2, 0] = -1  # one missing token: sample 1 is not fully tokenized
    _write(dataset, "vqvae", ids)

    tokens = _read(dataset, "vqvae")
    assert tokens.ids.dtype == np.int32 and tokens.ids.shape == (N, 4, 3)
    np.testing.assert_array_equal(tokens.ids, ids)
    assert tokens.name == "vqvae"
    assert tokens.categories == CATEGORIES and tokens.levels == LEVELS
    assert tokens.codebook_sizes == (SIZES,) * 4  # L sizes are stored as K×L
    assert tokens.model == MODEL and tokens.model_config == MODEL_CONFIG
    assert tokens.version == "1.0" and tokens.provider == "spinlock-vqvae 0.1.0"
    assert (tokens.n_categories, tokens.n_levels) == (4, 3)
    assert "<int32 array of shape (6, 4, 3)>" in repr(tokens)
    assert tokens.tokenized.tolist() == [True, False, True, True, True, True]
    with h5py.File(dataset, "r") as f:  # plain h5py sees the documented layout
        raw = f["tokens/vqvae/ids"]
        assert raw.dtype == np.int32
        assert json.loads(raw.attrs["codebook_sizes"]) == [list(SIZES)] * 4
        assert json.loads(raw.attrs["levels"]) == list(LEVELS)
    assert validate_dataset(dataset) == []


def test_round_trip_by_indices(dataset: Path) -> None:
    ids = _ids(3, seed=1)
    _write(dataset, "vqvae", ids, indices=[4, 0, 2])

    tokens = _read(dataset, "vqvae")
    np.testing.assert_array_equal(tokens.ids[[4, 0, 2]], ids)
    assert np.all(tokens.ids[[1, 3, 5]] == layout.NOT_TOKENIZED)
    assert tokens.tokenized.tolist() == [True, False, True, False, True, False]
    subset = _read(dataset, "vqvae", indices=[2, 4, 1])
    assert subset.ids.shape == (3, 4, 3)
    np.testing.assert_array_equal(subset.ids[0], ids[2])
    np.testing.assert_array_equal(subset.ids[1], ids[0])
    assert np.all(subset.ids[2] == -1)
    assert validate_dataset(dataset) == []


def test_per_category_codebook_sizes(dataset: Path) -> None:
    sizes = [[8, 4, 2], [16, 4, 2], [8, 8, 8], [2, 2, 2]]
    ids = _ids(N, sizes=sizes)
    ids[:, 1, 0] = 15  # valid only for the second category
    _write(dataset, "vqvae", ids, codebook_sizes=sizes)
    assert _read(dataset, "vqvae").codebook_sizes == tuple(tuple(row) for row in sizes)
    assert validate_dataset(dataset) == []
    ids[0, 0, 0] = 15  # too big for the first category
    with pytest.raises(ValueError, match="category 'spatial', level 'coarse': id 15 with codebook size 8"):
        _write(dataset, "vqvae", ids, codebook_sizes=sizes)


def test_accepts_any_integer_dtype(dataset: Path) -> None:
    _write(dataset, "a", _ids(N).astype(np.uint8))
    _write(dataset, "b", _ids(N).astype(np.int16))
    np.testing.assert_array_equal(_read(dataset, "a").ids, _ids(N))
    np.testing.assert_array_equal(_read(dataset, "b").ids, _ids(N))


def test_features_are_untouched(dataset: Path) -> None:
    with open_dataset(dataset) as reader:
        before = reader.features("summary").values
    _write(dataset, "vqvae", _ids(N))
    with open_dataset(dataset) as reader:
        np.testing.assert_array_equal(reader.features("summary").values, before)


# -- replacing and side-by-side sets ------------------------------------------------------------------------


def test_replacing_a_set(dataset: Path) -> None:
    _write(dataset, "vqvae", _ids(N, seed=1))
    new_ids = np.zeros((N, 2, 2), dtype=np.int32)
    new_ids[0] = 1
    _write(
        dataset,
        "vqvae",
        new_ids,
        categories=["a", "b"],
        levels=["coarse", "fine"],
        codebook_sizes=[3, 5],
        model={"path": "other.pt"},
        version="2.0",
    )
    tokens = _read(dataset, "vqvae")
    np.testing.assert_array_equal(tokens.ids, new_ids)
    assert tokens.categories == ("a", "b") and tokens.levels == ("coarse", "fine")
    assert tokens.codebook_sizes == ((3, 5), (3, 5))
    assert tokens.model == {"path": "other.pt"} and tokens.version == "2.0"
    with h5py.File(dataset, "r") as f:
        assert sorted(f["tokens"]) == ["vqvae"]  # no staging group left
    assert validate_dataset(dataset) == []


def test_two_sets_side_by_side(dataset: Path) -> None:
    first, second = _ids(N, seed=1), _ids(N, seed=2, sizes=(5,), k=2)
    _write(dataset, "vqvae", first)
    _write(dataset, "vq-small_2", second, categories=["x", "y"], levels=["only"], codebook_sizes=[5])
    with open_dataset(dataset) as reader:
        assert reader.token_sets() == ["vq-small_2", "vqvae"]
        np.testing.assert_array_equal(reader.tokens("vqvae").ids, first)
        np.testing.assert_array_equal(reader.tokens("vq-small_2").ids, second)
    # Replacing one leaves the other alone.
    _write(dataset, "vqvae", _ids(N, seed=3))
    np.testing.assert_array_equal(_read(dataset, "vqvae").ids, _ids(N, seed=3))
    np.testing.assert_array_equal(_read(dataset, "vq-small_2").ids, second)
    assert validate_dataset(dataset) == []


def test_failure_while_writing_keeps_the_old_set(dataset: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old = _ids(N, seed=1)
    _write(dataset, "vqvae", old)

    def boom(indices: np.ndarray) -> list:
        raise OSError("disk full")

    monkeypatch.setattr(writer_module, "index_runs", boom)
    with pytest.raises(OSError, match="disk full"):
        _write(dataset, "vqvae", _ids(2, seed=2), indices=[0, 1])
    np.testing.assert_array_equal(_read(dataset, "vqvae").ids, old)
    with h5py.File(dataset, "r") as f:
        assert sorted(f["tokens"]) == ["vqvae"]
    assert validate_dataset(dataset) == []


def test_killed_writer_never_leaves_a_half_written_set(dataset: Path) -> None:
    old = _ids(N, seed=1)
    _write(dataset, "vqvae", old)
    # Die once the new group is complete on disk, when the old one is about to be deleted.
    script = textwrap.dedent(
        """
        import os, sys
        import h5py, numpy as np
        from spinlock.core.storage import DatasetWriter

        def die(self, *args, **kwargs):
            os._exit(9)

        h5py.Group.__delitem__ = die
        writer = DatasetWriter.open_for_extraction(sys.argv[1])
        writer.write_tokens(
            "vqvae", np.zeros((6, 4, 3), dtype=np.int32), categories=["a", "b", "c", "d"],
            levels=["coarse", "medium", "fine"], codebook_sizes=[8, 4, 2], model={}, model_config="",
            version="2", provider="test",
        )
        """
    )
    result = subprocess.run([sys.executable, "-c", script, str(dataset)], capture_output=True, check=False)
    assert result.returncode == 9, result.stderr.decode()

    with open_dataset(dataset) as reader:
        assert reader.token_sets() == ["vqvae"]  # the leftover is not a token set
        np.testing.assert_array_equal(reader.tokens("vqvae").ids, old)
    problems = validate_dataset(dataset)
    assert [p.path for p in problems] == ["/tokens/.vqvae.partial"]
    assert "interrupted token write" in problems[0].message
    # The next write of that tokenizer clears the leftover.
    _write(dataset, "vqvae", _ids(N, seed=3))
    assert validate_dataset(dataset) == []
    np.testing.assert_array_equal(_read(dataset, "vqvae").ids, _ids(N, seed=3))


# -- bad input: a clear error, the file unchanged -----------------------------------------------------------


def _big_unsigned() -> np.ndarray:
    ids = _ids(N).astype(np.uint64)
    ids[0, 0, 0] = np.iinfo(np.uint64).max  # would wrap to -1 through int64
    return ids


BAD_INPUTS: list[tuple[str, Any, dict[str, Any], str]] = [
    ("wrong ndim", lambda: _ids(N)[:, :, 0], {}, r"3-D \(samples, categories, levels\) array, got shape \(6, 4\)"),
    ("float dtype", lambda: _ids(N).astype(np.float64), {}, "integer dtype, got float64"),
    ("bool dtype", lambda: _ids(N) > 0, {}, "integer dtype, got bool"),
    ("id too big", lambda: np.full((N, 4, 3), 2), {},
     r"ids outside \[-1, codebook size\), e.g. row 0, category 'spatial', level 'fine': id 2 with codebook size 2"),
    ("id below -1", lambda: np.full((N, 4, 3), -2), {}, "id -2 with codebook size 8"),
    ("uint64 wrap", _big_unsigned, {}, "ids outside"),
    ("K mismatch", lambda: _ids(N), {"categories": CATEGORIES[:3]},
     r"ids have 4 categories x 3 levels, but 3 categories"),
    ("L mismatch", lambda: _ids(N), {"levels": ["coarse", "fine"], "codebook_sizes": [8, 4]},
     r"ids have 4 categories x 3 levels, but 4 categories .* and 2 levels"),
    ("sizes length", lambda: _ids(N), {"codebook_sizes": [8, 4]}, "codebook_sizes has 2 entries for 3 levels"),
    ("sizes rows", lambda: _ids(N), {"codebook_sizes": [[8, 4, 2]] * 3}, "must be 4 rows"),
    ("size zero", lambda: _ids(N), {"codebook_sizes": [8, 0, 2]}, "must be >= 1"),
    ("size not int", lambda: _ids(N), {"codebook_sizes": [8, 4.0, 2]}, "must be integers, got 4.0"),
    ("size bool", lambda: _ids(N), {"codebook_sizes": [8, True, 2]}, "must be integers, got True"),
    ("N mismatch", lambda: _ids(N - 1), {}, "ids have 5 rows but the dataset has N = 6 samples"),
    ("rows vs indices", lambda: _ids(2), {"indices": [0, 1, 2]}, "ids have 2 rows for 3 indices"),
    ("index out of range", lambda: _ids(2), {"indices": [0, N]}, r"indices must lie in \[0, 6\)"),
    ("duplicate index", lambda: _ids(2), {"indices": [1, 1]}, "indices must be unique"),
    ("duplicate category", lambda: _ids(N), {"categories": ["a", "b", "a", "c"]}, "categories must be unique"),
    ("categories as str", lambda: _ids(N), {"categories": "abcd"}, "categories must be a list of names"),
    ("empty level name", lambda: _ids(N), {"levels": ["coarse", "", "fine"]}, "non-empty strings"),
    ("model not JSON", lambda: _ids(N), {"model": {"created": object()}}, "model must be JSON-serialisable"),
    ("model not mapping", lambda: _ids(N), {"model": ["a"]}, "model must be a mapping"),
    ("config not text", lambda: _ids(N), {"model_config": {"a": 1}}, "model_config must be a str"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("make_ids", "overrides", "message"), [case[1:] for case in BAD_INPUTS], ids=[c[0] for c in BAD_INPUTS]
)
def test_bad_input_is_refused_and_the_file_stays_valid(
    dataset: Path, make_ids: Any, overrides: dict[str, Any], message: str
) -> None:
    old = _ids(N, seed=7)
    _write(dataset, "vqvae", old)
    with pytest.raises(ValueError, match=message):
        _write(dataset, "vqvae", make_ids(), **overrides)
    assert validate_dataset(dataset) == []
    tokens = _read(dataset, "vqvae")
    np.testing.assert_array_equal(tokens.ids, old)
    assert tokens.model == MODEL
    with h5py.File(dataset, "r") as f:
        assert sorted(f["tokens"]) == ["vqvae"]


@pytest.mark.parametrize("name", ["", "a/b", "vq vae", ".vqvae.partial", "vq.vae", "véqué", "vq\n", 3])
def test_bad_tokenizer_name(dataset: Path, name: Any) -> None:
    _write(dataset, "vqvae", _ids(N))
    with pytest.raises(ValueError, match="invalid tokenizer name"):
        _write(dataset, name, _ids(N))
    assert validate_dataset(dataset) == []
    with open_dataset(dataset) as reader:
        assert reader.token_sets() == ["vqvae"]


def test_closed_writer_is_refused(dataset: Path) -> None:
    writer = DatasetWriter.open_for_extraction(dataset)
    writer.close()
    with pytest.raises(DatasetError, match="writer is closed"):
        writer.write_tokens("vqvae", _ids(N), **_kwargs())


# -- reading ------------------------------------------------------------------------------------------------


def test_unknown_token_set_names_the_stored_ones(dataset: Path) -> None:
    with open_dataset(dataset) as reader:
        assert reader.token_sets() == []
        with pytest.raises(DatasetError, match=r"no token set 'vqvae'; stored token sets: none"):
            reader.tokens("vqvae")
    _write(dataset, "vqvae", _ids(N))
    _write(dataset, "other", _ids(N))
    with open_dataset(dataset) as reader:
        with pytest.raises(DatasetError, match=r"no token set 'vq'; stored token sets: 'other', 'vqvae'"):
            reader.tokens("vq")
        with pytest.raises(DatasetError, match=r"no token set '\.\./features'"):
            reader.tokens("../features")


def test_reader_refuses_a_corrupt_set(dataset: Path) -> None:
    _write(dataset, "vqvae", _ids(N))
    with h5py.File(dataset, "r+") as f:
        del f["tokens/vqvae/ids"].attrs["categories"]
    with open_dataset(dataset) as reader, pytest.raises(DatasetError, match="missing attribute 'categories'"):
        reader.tokens("vqvae")
    with h5py.File(dataset, "r+") as f:
        f["tokens/vqvae/ids"].attrs["categories"] = '["a"]'
    with open_dataset(dataset) as reader, pytest.raises(DatasetError, match="JSON list of 4 names"):
        reader.tokens("vqvae")


# -- validation of corrupted sets ---------------------------------------------------------------------------


def _del_attr(name: str):
    return lambda ids: ids.attrs.__delitem__(name)


def _set_attr(name: str, value: Any):
    return lambda ids: ids.attrs.__setitem__(name, value)


def _set_id(value: int):
    def edit(ids: h5py.Dataset) -> None:
        ids[3, 1, 2] = value

    return edit


CORRUPTIONS: list[tuple[str, Any, str]] = [
    ("categories deleted", _del_attr("categories"), "missing attribute 'categories'"),
    ("model deleted", _del_attr("model"), "missing attribute 'model'"),
    ("provider deleted", _del_attr("provider"), "missing attribute 'provider'"),
    ("id too big", _set_id(2), ("1 token ids outside [-1, codebook size), e.g. sample 3, category 'temporal', "
     "level 'fine': id 2 with codebook size 2")),
    ("id too big, no names", lambda ids: (_set_id(2)(ids), ids.attrs.__delitem__("levels")),
     "e.g. sample 3, category 'temporal', level 2: id 2"),
    ("id below -1", _set_id(-5), "id -5 with codebook size 2"),
    ("categories not JSON", _set_attr("categories", "[spatial"), "attribute 'categories' is not valid JSON"),
    ("model not object", _set_attr("model", "[1, 2]"), "attribute 'model' must be a JSON object"),
    ("levels length", _set_attr("levels", '["coarse"]'), "JSON list of 3 unique level names"),
    ("sizes flat", _set_attr("codebook_sizes", "[8, 4, 2]"), "must be a JSON list of 4 rows (categories) of 3"),
    ("sizes zero", _set_attr("codebook_sizes", json.dumps([[8, 4, 0]] * 4)), "ints >= 1"),
    ("version not text", _set_attr("version", 3), "attribute 'version' must be text"),
]  # fmt: skip


@pytest.mark.parametrize(("edit", "message"), [c[1:] for c in CORRUPTIONS], ids=[c[0] for c in CORRUPTIONS])
def test_validate_reports_a_corrupted_set(dataset: Path, edit: Any, message: str) -> None:
    _write(dataset, "vqvae", _ids(N))
    with h5py.File(dataset, "r+") as f:
        edit(f["tokens/vqvae/ids"])
    problems = validate_dataset(dataset)
    assert problems and not any(p.fatal for p in problems)
    assert any(p.path == "/tokens/vqvae/ids" and message in p.message for p in problems), problems


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (np.zeros((N, 4, 3), np.float32), "unexpected dtype float32"),
        (np.zeros((N, 4, 3), np.int64), "dtype must be int32, got int64"),
        (np.zeros((N - 1, 4, 3), np.int32), "does not match N = 6"),
        (np.zeros((N, 12), np.int32), "must have 3 dimensions"),
        (np.zeros((N, 4, 2), np.int32), "JSON list of 2 unique level names"),
    ],
    ids=["float", "int64", "wrong N", "2-D", "L vs levels"],
)
def test_validate_reports_a_bad_ids_array(dataset: Path, data: np.ndarray, message: str) -> None:
    _write(dataset, "vqvae", _ids(N))
    with h5py.File(dataset, "r+") as f:
        attrs_ = dict(f["tokens/vqvae/ids"].attrs)
        del f["tokens/vqvae/ids"]
        ds = f["tokens/vqvae"].create_dataset("ids", data=data)
        ds.attrs.update(attrs_)
    problems = validate_dataset(dataset)
    assert any(p.path == "/tokens/vqvae/ids" and message in p.message for p in problems), problems


def test_validate_reports_a_set_without_ids(dataset: Path) -> None:
    _write(dataset, "vqvae", _ids(N))
    with h5py.File(dataset, "r+") as f:
        del f["tokens/vqvae/ids"]
        f["tokens"].create_dataset("loose", data=np.zeros(3))
    problems = {p.path: p.message for p in validate_dataset(dataset)}
    assert problems == {"/tokens/vqvae/ids": "missing", "/tokens/loose": "must be a group holding 'ids'"}


# -- spinlock info ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    from spinlock.core.cli import dataset_commands

    fresh = typer.Typer()
    dataset_commands.register(fresh)
    return fresh


def test_info_lists_token_sets(app: typer.Typer, dataset: Path) -> None:
    runner = CliRunner()
    empty = json.loads(runner.invoke(app, ["info", str(dataset), "--json"]).stdout)
    assert empty["tokens"] == {}
    assert "none" in runner.invoke(app, ["info", str(dataset)]).stdout

    ids = _ids(N)
    ids[[1, 4], 0, 0] = -1
    _write(dataset, "vqvae", ids)
    _write(dataset, "small", _ids(N, sizes=[[5], [3]], k=2), categories=["x", "y"], levels=["only"],
           codebook_sizes=[[5], [3]])  # fmt: skip
    result = runner.invoke(app, ["info", str(dataset), "--json"])
    assert result.exit_code == 0, result.output
    tokens = json.loads(result.stdout)["tokens"]
    assert list(tokens) == ["small", "vqvae"]
    assert tokens["vqvae"] == {
        "shape": [N, 4, 3],
        "categories": list(CATEGORIES),
        "levels": list(LEVELS),
        "codebook_sizes": [list(SIZES)] * 4,
        "tokenized": 4,
        "tokenized_share": pytest.approx(4 / 6),
        "version": "1.0",
        "provider": "spinlock-vqvae 0.1.0",
    }
    assert tokens["small"]["codebook_sizes"] == [[5], [3]]

    table = runner.invoke(app, ["info", str(dataset)])
    assert table.exit_code == 0, table.output
    for text in ("tokens: vqvae", "K=4 x L=3 (coarse, medium, fine)", "codebooks 8/4/2", "tokenized 4 of 6 (67%)",
                 "tokens: small", "5; 3 (per category)"):  # fmt: skip
        assert text in table.stdout, (text, table.stdout)
