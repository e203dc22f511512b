"""Pictures of a trained tokenizer: ``spinlock visualize vqvae MODEL_DIR [--dataset D.h5]``.

From a ``spinlock train-vqvae`` folder, into ``OUTPUT/``:

- ``training_curves.png`` (``history.json``): total loss (train and validation), each loss term, the
  learning rate; the best epoch marked;
- ``codebooks.png`` (``metrics.json``): per category and level, the codebook utilisation (share of codes
  used) and perplexity (as a share of the codebook size; perplexity exposes collapse that utilisation hides);
- ``categories.png`` (``model.pt``): the category map — categories × the cleaned features that belong to
  them, coloured by feature family, with each category's top features;
- ``embedding.png`` (needs ``--dataset``): per category, a 2-D embedding (PCA, or t-SNE when asked) of the
  samples' normalised category features, coloured by their coarse token;
- ``centroids.png`` (``metrics.json``): per category, every used coarse token's centroid over the
  category's features (original units, standardised per feature across tokens).

The ``draw_*`` functions return matplotlib figures, so :mod:`spinlock.vqvae.report_html` can embed the same
pictures. matplotlib (the ``viz`` extra: ``pip install 'spinlock-vqvae[viz]'``) is imported when drawing,
with the headless Agg backend; torch only when the model is loaded.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from spinlock.core.cli.groups import visualize_group

INSTALL_HINT = "pip install 'spinlock-vqvae[viz]'"

#: ``progress(stage, done, total)``.
ProgressFn = Callable[[str, int, int], None]


EMBEDDINGS = ("pca", "tsne")


class MissingDependencyError(RuntimeError):
    """matplotlib (the ``viz`` extra) is not installed."""


def import_pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend; :class:`MissingDependencyError` without matplotlib."""
    try:
        import matplotlib
    except ImportError as exc:
        raise MissingDependencyError(
            f"tokenizer pictures need matplotlib, which is not installed: {INSTALL_HINT}"
        ) from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(plt: Any, fig: Any, path: Path, dpi: int = 90) -> Path:
    """Save ``fig`` to ``path`` (parents created) and close it."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=dpi, facecolor="white")
    finally:
        plt.close(fig)
    return path


def figure_png(plt: Any, fig: Any, dpi: int = 80) -> bytes:
    """``fig`` as PNG bytes; the figure is closed."""
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=dpi, facecolor="white")
    finally:
        plt.close(fig)
    return buffer.getvalue()


# ------------------------------------------------------------------------------------------ model folder


@dataclass(frozen=True)
class ModelFolder:
    """What a ``spinlock train-vqvae`` folder holds.

    :param directory: the folder.
    :param history: the per-epoch records of ``history.json`` (``None`` when absent).
    :param metrics: ``metrics.json`` (``None`` when absent).
    """

    directory: Path
    history: list[dict[str, Any]] | None
    metrics: dict[str, Any] | None

    @property
    def checkpoint(self) -> Path:
        """``model.pt``."""
        return self.directory / "model.pt"


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"{path}: not readable JSON ({exc})") from None


def read_model_folder(directory: str | Path) -> ModelFolder:
    """The history, metrics and checkpoint path of a ``spinlock train-vqvae`` folder.

    :raises ValueError: not a folder, no ``model.pt``, or an unreadable/malformed JSON file.
    """
    folder = Path(directory)
    if not folder.is_dir():
        raise ValueError(f"{folder}: no such model folder (train one with `spinlock train-vqvae`)")
    if not (folder / "model.pt").is_file():
        raise ValueError(f"{folder}: no model.pt, not a `spinlock train-vqvae` folder")
    history = metrics = None
    if (folder / "history.json").is_file():
        history = _read_json(folder / "history.json")
        if not isinstance(history, list) or not all(isinstance(r, dict) for r in history):
            raise ValueError(f"{folder / 'history.json'}: expected a list of per-epoch records")
    if (folder / "metrics.json").is_file():
        metrics = _read_json(folder / "metrics.json")
        if not isinstance(metrics, dict):
            raise ValueError(f"{folder / 'metrics.json'}: expected a JSON object")
    return ModelFolder(folder, history, metrics)


def load_category_map(directory: str | Path) -> Any:
    """The :class:`~spinlock.vqvae.categories.CategoryMap` stored in ``directory/model.pt``.

    :raises spinlock.vqvae.checkpoint.CheckpointError: a missing, foreign or damaged checkpoint.
    """
    from spinlock.vqvae.categories import CategoryMap
    from spinlock.vqvae.checkpoint import load_checkpoint, model_path

    checkpoint = load_checkpoint(model_path(directory))
    return CategoryMap.from_state(checkpoint.tokenizer_state["categories"])


# ---------------------------------------------------------------------------------------------- figures


def _short(name: str, limit: int = 28) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


def _series(history: Sequence[Mapping[str, Any]], key: str) -> np.ndarray:
    return np.asarray([float(r.get(key, np.nan)) for r in history], dtype=np.float64)


def draw_training_curves(
    plt: Any, history: Sequence[Mapping[str, Any]], best_epoch: int | None = None
) -> Any:
    """Loss curves of ``history.json``: total, each term (train solid, validation dashed), learning rate."""
    if not history:
        raise ValueError("the training history is empty")
    epochs = _series(history, "epoch")
    terms = sorted(
        {
            k.removeprefix("train_")
            for r in history
            for k in r
            if k.startswith("train_") and k != "train_total"
        }
    )
    terms = [t for t in terms if np.nanmax(np.abs(_series(history, f"train_{t}"))) > 0]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    total, parts, lr = axes
    total.plot(epochs, _series(history, "train_total"), label="train", color="C0")
    if any("val_total" in r for r in history):
        total.plot(epochs, _series(history, "val_total"), label="validation", color="C1")
    total.set_title("total loss", fontsize=10)
    for k, term in enumerate(terms):
        parts.plot(epochs, _series(history, f"train_{term}"), color=f"C{k}", label=term.replace("_", " "))
        if any(f"val_{term}" in r for r in history):
            parts.plot(epochs, _series(history, f"val_{term}"), color=f"C{k}", ls="--")
    parts.set_title("loss terms (validation dashed)", fontsize=10)
    lr.plot(epochs, _series(history, "lr"), color="C2")
    lr.set_title("learning rate", fontsize=10)
    for ax in (total, parts):
        values = np.concatenate([line.get_ydata() for line in ax.get_lines()] or [np.zeros(1)])
        finite = values[np.isfinite(values)]
        if finite.size and finite.min() > 0 and finite.max() > 10 * finite.min():  # log only over a decade
            ax.set_yscale("log")
    for ax in axes:
        ax.set_xlabel("epoch")
        if best_epoch is not None and best_epoch >= 0:
            ax.axvline(best_epoch, color="grey", lw=0.8, ls=":")
        ax.tick_params(labelsize=8)
    total.legend(fontsize=8)
    if terms:
        parts.legend(fontsize=7)
    fig.suptitle(
        f"Training: {len(history)} epochs"
        + (f", best epoch {best_epoch} (dotted)" if best_epoch is not None else ""),
        fontsize=11,
    )
    fig.tight_layout()
    return fig


def draw_codebooks(plt: Any, codebooks: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> Any:
    """Utilisation and normalised perplexity per category (x) and level (bars) from ``metrics.json``."""
    categories = list(codebooks)
    if not categories:
        raise ValueError("metrics.json lists no codebooks")
    levels = list(codebooks[categories[0]])
    x = np.arange(len(categories))
    width = 0.8 / max(1, len(levels))
    fig, axes = plt.subplots(2, 1, figsize=(max(7.0, 0.55 * len(categories) + 2.5), 6.2), sharex=True)
    for ax, key, label in (
        (axes[0], "utilisation", "utilisation (codes used / size)"),
        (axes[1], "normalised_perplexity", "perplexity / size"),
    ):
        for k, level in enumerate(levels):
            values = [float(codebooks[c].get(level, {}).get(key, np.nan)) for c in categories]
            ax.bar(x + (k - (len(levels) - 1) / 2) * width, values, width, label=level, color=f"C{k}")
        ax.set_ylim(0, 1.05)
        ax.set_ylabel(label, fontsize=9)
        ax.axhline(0.5, color="grey", lw=0.6, ls=":")
        ax.tick_params(labelsize=8)
    sizes = {int(codebooks[categories[0]][lvl].get("size", 0)) for lvl in levels}
    axes[0].legend(fontsize=8, ncol=len(levels))
    axes[0].set_title(
        f"Codebooks: {len(categories)} categories × {len(levels)} levels (sizes {sorted(sizes)})"
    )
    axes[1].set_xticks(x, [_short(c, 22) for c in categories], rotation=45, ha="right", fontsize=8)
    fig.tight_layout()
    return fig


def draw_category_map(
    plt: Any, category_map: Any, top_features: Mapping[str, Sequence[str]] | None = None
) -> Any:
    """Categories (rows) × cleaned features (columns, grouped by category), coloured by feature family.

    :param category_map: a :class:`~spinlock.vqvae.categories.CategoryMap`.
    :param top_features: category → its most representative features (listed beside the map).
    """
    from matplotlib.colors import ListedColormap

    cats = list(category_map.categories)
    families = sorted(set(category_map.families))
    family_index = {f: k for k, f in enumerate(families)}
    order = [i for c in cats for i in c.indices]
    position = {col: p for p, col in enumerate(order)}
    matrix = np.full((len(cats), len(order)), np.nan)
    for r, c in enumerate(cats):
        for i in c.indices:
            matrix[r, position[i]] = family_index[category_map.families[i]]
    colors = [plt.get_cmap("tab10")(k % 10) for k in range(len(families))]
    height = max(3.0, 0.32 * len(cats) + 1.6)
    fig, (ax, text) = plt.subplots(1, 2, figsize=(13, height), gridspec_kw={"width_ratios": [3, 2]})
    ax.imshow(
        np.ma.masked_invalid(matrix),
        aspect="auto",
        interpolation="nearest",
        cmap=ListedColormap(colors),
        vmin=-0.5,
        vmax=len(families) - 0.5,
    )
    ax.set_yticks(range(len(cats)), [f"{_short(c.name, 24)} ({len(c.indices)})" for c in cats], fontsize=7)
    ax.set_xlabel(f"{len(order)} cleaned features, grouped by category")
    ax.set_xticks([])
    handles = [plt.Rectangle((0, 0), 1, 1, color=colors[k]) for k in range(len(families))]
    ax.legend(handles, families, fontsize=7, loc="upper right", title="family", title_fontsize=7)
    ax.set_title("Category map", fontsize=11)
    text.axis("off")
    text.set_ylim(len(cats) - 0.5, -0.5)  # one line per category, level with its row of the map
    text.set_xlim(0, 1)
    for r, c in enumerate(cats):
        members = list((top_features or {}).get(c.name) or c.members)[:4]
        line = ", ".join(_short(m.split("::")[-1], 22) for m in members)
        text.text(0.0, r, line, va="center", ha="left", fontsize=7, family="monospace")
    text.set_title("top features", fontsize=9)
    fig.tight_layout()
    return fig


def embed_2d(X: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """``(n, d)`` → ``(n, 2)`` by PCA (SVD of the centred data) or sklearn's t-SNE (``method="tsne"``).

    :raises ValueError: an unknown method.
    """
    X = np.nan_to_num(np.asarray(X, dtype=np.float64))
    n = X.shape[0]
    if method not in EMBEDDINGS:
        raise ValueError(f"embedding must be one of {', '.join(EMBEDDINGS)}, got {method!r}")
    if method == "tsne" and n >= 5 and X.shape[1] >= 2:
        from sklearn.manifold import TSNE

        perplexity = float(min(30.0, max(2.0, (n - 1) / 3.0)))
        return np.asarray(
            TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(X)
        )
    centred = X - X.mean(axis=0)
    out = np.zeros((n, 2))
    if n >= 2 and centred.any():
        u, s, _ = np.linalg.svd(centred, full_matrices=False)
        k = min(2, s.size)
        out[:, :k] = u[:, :k] * s[:k]
    return out


def _grid(n: int) -> tuple[int, int]:
    cols = min(4, max(1, math.ceil(math.sqrt(n))))
    return math.ceil(n / cols), cols


def draw_embeddings(
    plt: Any,
    blocks: Mapping[str, np.ndarray],
    codes: np.ndarray,
    *,
    method: str = "pca",
    seed: int = 0,
) -> Any:
    """Per category, a 2-D embedding of its features coloured by coarse token.

    :param blocks: category name → ``(n, d_c)`` normalised features, in token order (axis 1 of ``codes``).
    :param codes: ``(n, categories)`` coarse token ids.
    """
    names = list(blocks)
    rows, cols = _grid(len(names))
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 3.1 * rows + 0.4), squeeze=False)
    cmap = plt.get_cmap("tab20")
    for ax in axes.flat[len(names) :]:
        ax.axis("off")
    for k, (ax, name) in enumerate(zip(axes.flat, names, strict=False)):
        xy = embed_2d(blocks[name], method, seed)
        tokens = codes[:, k]
        used = np.unique(tokens)
        for t in used:
            mask = tokens == t
            ax.scatter(
                xy[mask, 0], xy[mask, 1], s=7, color=cmap(int(t) % 20), label=str(int(t)), linewidths=0
            )
        ax.set_title(f"{_short(name, 26)}: {used.size} tokens", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
        if used.size <= 12:
            ax.legend(fontsize=5, markerscale=1.2, loc="best", ncol=2, handletextpad=0.1, borderpad=0.2)
    label = "PCA" if method == "pca" else "t-SNE"
    fig.suptitle(f"{label} of each category's features, coloured by coarse token ({codes.shape[0]} samples)")
    fig.tight_layout()
    return fig


def draw_centroids(plt: Any, centroids: Mapping[str, Mapping[str, Any]]) -> Any:
    """Per category, coarse-token centroids × features, each feature standardised across the tokens."""
    names = [n for n, c in centroids.items() if c.get("tokens")]
    if not names:
        raise ValueError("metrics.json lists no token centroids")
    rows, cols = _grid(len(names))
    fig, axes = plt.subplots(
        rows, cols, figsize=(3.8 * cols, 3.2 * rows + 0.6), squeeze=False, layout="constrained"
    )
    for ax in axes.flat[len(names) :]:
        ax.axis("off")
    image = None
    for ax, name in zip(axes.flat, names, strict=False):
        entry = centroids[name]
        codes = sorted(entry["tokens"], key=int)
        matrix = np.asarray([entry["tokens"][c] for c in codes], dtype=np.float64)
        mean = np.nanmean(matrix, axis=0)
        std = np.nanstd(matrix, axis=0)
        z = np.where(std > 0, (matrix - mean) / np.where(std > 0, std, 1.0), 0.0)
        image = ax.imshow(z, aspect="auto", cmap="RdBu_r", vmin=-2.5, vmax=2.5, interpolation="nearest")
        counts = entry.get("counts") or []
        ax.set_yticks(
            range(len(codes)),
            [f"{c} ({counts[int(c)]})" if int(c) < len(counts) else c for c in codes],
            fontsize=6,
        )
        columns = entry.get("columns") or []
        if 0 < len(columns) <= 16:
            labels = [_short(c.split("::")[-1], 14) for c in columns]
            ax.set_xticks(range(len(columns)), labels, rotation=90, fontsize=5)
        else:
            ax.set_xticks([])
            ax.set_xlabel(f"{len(columns)} features", fontsize=7)
        ax.set_title(_short(name, 30), fontsize=8)
    if image is not None:
        fig.colorbar(image, ax=axes, fraction=0.02, pad=0.01, label="z across tokens")
    fig.suptitle("Coarse-token centroids (token (samples) × feature)", fontsize=11)
    return fig


# ---------------------------------------------------------------------------------------------- driver


@dataclass
class VQVAEPictures:
    """What :func:`render_vqvae_pictures` wrote: picture name → path, and what was left out and why."""

    files: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def embedding_inputs(
    model_dir: str | Path, dataset: str | Path, max_samples: int = 2000, seed: int = 0
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Per category the normalised features of (at most ``max_samples``) dataset samples, and their coarse
    tokens ``(n, categories)`` from the model in ``model_dir``.

    :raises ValueError: the dataset lacks the tokenizer's families or columns.
    """
    from spinlock.vqvae.data import load_table
    from spinlock.vqvae.tokenizer import Tokenizer

    tokenizer = Tokenizer.load(model_dir)
    families = tokenizer.config.families
    table = load_table(dataset, families.static_families(), families.temporal)
    if len(table) > max_samples:
        keep = np.sort(np.random.default_rng(seed).choice(len(table), max_samples, replace=False))
        table = table.take(keep)
    codes = tokenizer.tokenize(table)[:, :, 0]
    static, temporal = tokenizer.inputs(table)
    z = static.cpu().numpy()
    blocks = {c.name: z[:, list(c.indices)] for c in tokenizer.categories.categories}
    if temporal is not None:
        blocks["temporal"] = temporal.cpu().numpy().reshape(len(table), -1)
    return blocks, codes


def render_vqvae_pictures(
    model_dir: str | Path,
    output: str | Path,
    *,
    dataset: str | Path | None = None,
    embedding: str = "pca",
    max_samples: int = 2000,
    progress: ProgressFn | None = None,
) -> VQVAEPictures:
    """Draw the pictures of a ``spinlock train-vqvae`` folder into ``output`` (see the module docstring).

    :raises MissingDependencyError: matplotlib is missing.
    :raises ValueError: a bad model folder, embedding method or dataset (missing families or columns).
    :raises spinlock.core.storage.DatasetError: ``dataset`` is not a readable Spinlock dataset.
    :raises spinlock.vqvae.checkpoint.CheckpointError: a damaged ``model.pt``.
    """
    if embedding not in EMBEDDINGS:
        raise ValueError(f"--embedding must be one of {', '.join(EMBEDDINGS)}, got {embedding!r}")
    if max_samples < 2:
        raise ValueError(f"max_samples must be >= 2, got {max_samples}")
    folder = read_model_folder(model_dir)
    plt = import_pyplot()
    out = Path(output)
    result = VQVAEPictures()
    tick = progress or (lambda _stage, _done, _total: None)
    steps = 5
    done = 0

    def step() -> None:
        nonlocal done
        done += 1
        tick("drawing tokenizer pictures", done, steps)

    metrics = folder.metrics or {}
    best = metrics.get("training", {}).get("best_epoch")
    if folder.history:
        fig = draw_training_curves(plt, folder.history, best if isinstance(best, int) else None)
        result.files["training_curves"] = save_figure(plt, fig, out / "training_curves.png")
    else:
        result.notes.append(f"no training curves: {folder.directory / 'history.json'} is missing or empty")
    step()
    if metrics.get("codebooks"):
        result.files["codebooks"] = save_figure(
            plt, draw_codebooks(plt, metrics["codebooks"]), out / "codebooks.png"
        )
    else:
        result.notes.append(
            f"no codebook bars: {folder.directory / 'metrics.json'} is missing or has no codebooks"
        )
    step()
    category_map = load_category_map(folder.directory)
    top = {
        entry["name"]: [name for name, _ in entry.get("top_features", [])]
        for entry in metrics.get("categories", [])
        if isinstance(entry, dict) and "name" in entry
    }
    fig = draw_category_map(plt, category_map, top)
    result.files["categories"] = save_figure(plt, fig, out / "categories.png")
    step()
    if dataset is not None:
        blocks, codes = embedding_inputs(folder.directory, dataset, max_samples)
        fig = draw_embeddings(plt, blocks, codes, method=embedding)
        result.files["embedding"] = save_figure(plt, fig, out / "embedding.png")
    else:
        result.notes.append("no embedding: pass --dataset to embed its samples")
    step()
    if metrics.get("token_centroids"):
        fig = draw_centroids(plt, metrics["token_centroids"])
        result.files["centroids"] = save_figure(plt, fig, out / "centroids.png")
    else:
        result.notes.append("no centroid heatmap: metrics.json has no token centroids")
    step()
    return result


# ------------------------------------------------------------------------------------------ command line


def stderr_progress() -> tuple[Any, ProgressFn]:
    """A rich progress display on stderr and a ``progress(stage, done, total)`` callback that drives it."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
    )
    tasks: dict[str, Any] = {}

    def advance(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bar.add_task(stage, total=total)
        bar.update(tasks[stage], completed=done, total=total)

    return bar, advance


def register_visualize(app: Any) -> None:
    """Add ``visualize vqvae`` to ``app`` (into the existing ``visualize`` group, or a new one)."""
    import typer

    from spinlock.core.cli.errors import fail, require_file

    group = visualize_group(app)

    @group.command("vqvae")
    def vqvae(
        model: Path = typer.Argument(
            ..., help="Folder written by `spinlock train-vqvae`.", show_default=False
        ),
        dataset: Path | None = typer.Option(
            None, "--dataset", "-d", help="Dataset whose samples are embedded and coloured by token."
        ),
        output: Path = typer.Option(
            Path("vqvae-pictures"), "--output", "-o", help="Folder for the pictures."
        ),
        embedding: str = typer.Option("pca", "--embedding", help="pca or tsne (slower)."),
        max_samples: int = typer.Option(2000, "--max-samples", min=2, help="Samples embedded at most."),
    ) -> None:
        """Training curves, codebook usage, category map, token embedding and centroids of a tokenizer."""
        from spinlock.core.storage import DatasetError
        from spinlock.vqvae.checkpoint import CheckpointError

        if dataset is not None:
            require_file(dataset, "--dataset")
        bar, advance = stderr_progress()
        with bar:
            try:
                result = render_vqvae_pictures(
                    model,
                    output,
                    dataset=dataset,
                    embedding=embedding,
                    max_samples=max_samples,
                    progress=advance,
                )
            except (MissingDependencyError, DatasetError, CheckpointError, ValueError, OSError) as exc:
                bar.stop()
                fail(str(exc))
        from rich.console import Console

        err = Console(stderr=True)
        for note in result.notes:
            err.print(f"note: {note}", markup=False)
        for path in result.files.values():
            typer.echo(str(path))
