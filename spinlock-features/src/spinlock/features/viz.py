"""Pictures of a dataset's feature families: ``spinlock visualize features D.h5``.

For every stored family (or the ones asked for), into ``OUTPUT/<family>/``:

- ``histograms_NN.png``: one small histogram per column, ``per_page`` columns a page (values of the
  completed operators with rollout status ``ok``; per-timestep families pooled over operators and time);
- ``correlation.png``: the columns' Spearman correlation over operators (per-timestep families: of each
  operator's time mean), ordered by hierarchical clustering (average linkage on ``1 − |ρ|``) so that
  correlated columns sit together. When a tokenizer is known — ``model=DIR``, or the dataset holds tokens
  whose model file still exists — the columns are grouped by the tokenizer's categories first (clustered
  within each), with the groups outlined and named; columns the tokenizer's cleaning dropped form the last
  group;
- ``curves_NN.png`` (per-timestep families such as TEMPORAL): each column over the stored time steps, one
  line per chosen operator.

matplotlib and scipy (the ``viz`` extra, ``pip install 'spinlock-features[viz]'``) are imported when a
picture is drawn, with the headless Agg backend. Reading a tokenizer's categories needs spinlock-vqvae,
looked up at run time (spinlock-features does not depend on it); without it the grouping is left out with
a note.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from spinlock.core.cli.groups import visualize_group

INSTALL_HINT = "pip install 'spinlock-features[viz]'"

#: ``progress(stage, done, total)``.
ProgressFn = Callable[[str, int, int], None]


#: Operators whose TEMPORAL curves are drawn when none are chosen.
DEFAULT_CURVE_OPERATORS = 3

#: Group of the columns a tokenizer's cleaning dropped.
DROPPED_GROUP = "(dropped by cleaning)"


class MissingDependencyError(RuntimeError):
    """matplotlib or scipy (the ``viz`` extra) is not installed."""


def import_pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend; :class:`MissingDependencyError` without matplotlib."""
    try:
        import matplotlib
    except ImportError as exc:
        raise MissingDependencyError(
            f"feature pictures need matplotlib, which is not installed: {INSTALL_HINT}"
        ) from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _import_hierarchy() -> Any:
    try:
        from scipy.cluster import hierarchy
    except ImportError as exc:
        raise MissingDependencyError(
            f"feature correlation ordering needs scipy, which is not installed: {INSTALL_HINT}"
        ) from exc
    return hierarchy


# --------------------------------------------------------------------------------------------- numbers


def rank_columns(values: np.ndarray) -> np.ndarray:
    """Average ranks of each column of ``(N, D)``; non-finite values get the column's median rank."""
    x = np.asarray(values, dtype=np.float64)
    out = np.empty_like(x)
    for j in range(x.shape[1]):
        column = x[:, j]
        finite = np.isfinite(column)
        ranks = np.full(column.shape, np.nan)
        if finite.any():
            order = np.argsort(column[finite], kind="stable")
            # ties get the mean rank of their block of equal values
            _, first, counts = np.unique(column[finite][order], return_index=True, return_counts=True)
            mean_rank = first + (counts - 1) / 2.0
            r = np.empty(order.size)
            r[order] = np.repeat(mean_rank, counts)
            ranks[finite] = r
        fill = np.nanmedian(ranks) if finite.any() else 0.0
        out[:, j] = np.where(np.isfinite(ranks), ranks, fill)
    return out


def spearman_matrix(values: np.ndarray) -> np.ndarray:
    """``(D, D)`` Spearman correlation of the columns of ``(N, D)``.

    Constant (or all non-finite) columns correlate 0 with every other column and 1 with themselves.
    """
    ranks = rank_columns(values)
    centred = ranks - ranks.mean(axis=0)
    norm = np.sqrt((centred**2).sum(axis=0))
    safe = np.where(norm > 0, norm, 1.0)
    unit = centred / safe
    corr = unit.T @ unit
    corr[:, norm == 0] = 0.0
    corr[norm == 0, :] = 0.0
    np.fill_diagonal(corr, 1.0)
    return np.clip(corr, -1.0, 1.0)


def cluster_order(corr: np.ndarray) -> list[int]:
    """Leaf order of an average-linkage clustering on ``1 − |corr|`` (correlated columns adjacent)."""
    d = corr.shape[0]
    if d <= 2:
        return list(range(d))
    hierarchy = _import_hierarchy()
    from scipy.spatial.distance import squareform

    distance = 1.0 - np.abs(corr)
    distance = (distance + distance.T) / 2.0
    np.fill_diagonal(distance, 0.0)
    condensed = squareform(np.clip(distance, 0.0, None), checks=False)
    tree = hierarchy.linkage(condensed, method="average")
    if d <= 300:
        tree = hierarchy.optimal_leaf_ordering(tree, condensed)
    return [int(i) for i in hierarchy.leaves_list(tree)]


def grouped_order(
    corr: np.ndarray, groups: Sequence[tuple[str, Sequence[int]]]
) -> tuple[list[int], list[tuple[str, int, int]]]:
    """Columns ordered group by group, clustered within each group.

    :param groups: ``(name, column indices)``, together a partition of ``range(D)``.
    :returns: the order and ``(name, start, stop)`` of each group's span in it.
    """
    order: list[int] = []
    spans: list[tuple[str, int, int]] = []
    for name, members in groups:
        members = list(members)
        if not members:
            continue
        sub = corr[np.ix_(members, members)]
        start = len(order)
        order.extend(members[i] for i in cluster_order(sub))
        spans.append((name, start, len(order)))
    return order, spans


# ------------------------------------------------------------------------------------------ categories


@dataclass(frozen=True)
class TokenizerCategories:
    """Which tokenizer category each ``<family>::<column>`` belongs to.

    :param source: the model directory the categories were read from.
    :param order: category names in the tokenizer's order.
    :param of_column: ``"<family>::<column>"`` → category name (static families).
    :param temporal_family: the per-timestep family the tokenizer reads as its ``temporal`` category.
    :param temporal_columns: that family's column names.
    """

    source: Path
    order: tuple[str, ...]
    of_column: dict[str, str]
    temporal_family: str | None = None
    temporal_columns: tuple[str, ...] = ()

    def groups(self, family: str, names: Sequence[str]) -> list[tuple[str, list[int]]] | None:
        """``(category, column indices)`` of ``family``'s columns, or ``None`` when the tokenizer does not
        read this family."""
        if family == self.temporal_family and tuple(names) == self.temporal_columns:
            return [("temporal", list(range(len(names))))]
        found = [self.of_column.get(f"{family}::{name}") for name in names]
        if all(c is None for c in found):
            return None
        out: list[tuple[str, list[int]]] = []
        for category in self.order:
            members = [i for i, c in enumerate(found) if c == category]
            if members:
                out.append((category, members))
        dropped = [i for i, c in enumerate(found) if c is None]
        if dropped:
            out.append((DROPPED_GROUP, dropped))
        return out


def load_tokenizer_categories(model_dir: str | Path) -> TokenizerCategories:
    """The categories of the tokenizer saved in ``model_dir`` (its ``model.pt``).

    spinlock-vqvae is looked up at run time: spinlock-features does not depend on it.

    :raises MissingDependencyError: spinlock-vqvae is not installed.
    :raises ValueError: no readable checkpoint in ``model_dir``.
    """
    try:
        checkpoints = importlib.import_module("spinlock.vqvae.checkpoint")
        categories = importlib.import_module("spinlock.vqvae.categories")
    except ImportError as exc:
        raise MissingDependencyError(
            "grouping columns by token categories needs spinlock-vqvae: pip install spinlock-vqvae"
        ) from exc
    checkpoint = checkpoints.load_checkpoint(checkpoints.model_path(model_dir))
    cmap = categories.CategoryMap.from_state(checkpoint.tokenizer_state["categories"])
    of_column = {member: c.name for c in cmap.categories for member in c.members}
    temporal_names = tuple(checkpoint.tokenizer_state.get("temporal_names") or ())
    temporal_family = checkpoint.config.families.temporal if temporal_names else None
    return TokenizerCategories(
        source=Path(model_dir),
        order=tuple(cmap.category_names),
        of_column=of_column,
        temporal_family=temporal_family,
        temporal_columns=temporal_names,
    )


def _model_dir_from_tokens(reader: Any) -> Path | None:
    """The model directory recorded with the dataset's first token set, when that file still exists."""
    for name in reader.token_sets():
        model = reader.tokens(name, [0]).model
        path = Path(str(model.get("path", "")))
        if path.name and path.is_file():
            return path.parent
    return None


# ------------------------------------------------------------------------------------------- drawing


def _short(name: str, limit: int = 30) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


def _pages(d: int, per_page: int) -> list[range]:
    return [range(start, min(d, start + per_page)) for start in range(0, d, per_page)]


def _grid_shape(n: int) -> tuple[int, int]:
    cols = min(8, max(1, math.ceil(math.sqrt(n * 1.6))))
    return math.ceil(n / cols), cols


def _small_multiples(plt: Any, n: int, title_lines: int = 1) -> tuple[Any, Any]:
    """A figure of ``n`` small panels on a fixed grid (no layout engine: it dominates the cost)."""
    from matplotlib.ticker import MaxNLocator

    rows, cols = _grid_shape(n)
    top_band = 0.35 + 0.18 * title_lines
    height = 1.35 * rows + top_band + 0.25
    fig, axes = plt.subplots(rows, cols, figsize=(2.0 * cols, height), dpi=80, squeeze=False)
    fig.subplots_adjust(
        left=0.03, right=0.99, bottom=0.25 / height, top=1 - top_band / height, wspace=0.22, hspace=0.55
    )
    for k, ax in enumerate(axes.flat):
        if k >= n:
            ax.axis("off")
            continue
        ax.xaxis.set_major_locator(MaxNLocator(3))
        ax.yaxis.set_major_locator(MaxNLocator(3))
        ax.tick_params(labelsize=5, length=2, pad=1)
    return fig, axes


def draw_histograms(
    plt: Any, values: np.ndarray, names: Sequence[str], title: str, columns: range, path: Path
) -> Path:
    """One histogram per column in ``columns`` of ``values`` ``(samples, D)`` into ``path``."""
    fig, axes = _small_multiples(plt, len(columns))
    try:
        for ax, j in zip(axes.flat, columns, strict=False):
            column = values[:, j]
            finite = column[np.isfinite(column)]
            ax.set_title(_short(names[j]), fontsize=6.5, pad=2)
            ax.set_yticks([])
            if finite.size == 0:
                ax.text(
                    0.5, 0.5, "no finite values", ha="center", va="center", fontsize=6, transform=ax.transAxes
                )
                continue
            lo, hi = float(finite.min()), float(finite.max())
            if hi <= lo:
                lo, hi = lo - 0.5 * (abs(lo) or 1.0), hi + 0.5 * (abs(hi) or 1.0)
            bins = int(np.clip(round(math.sqrt(finite.size)), 5, 30))
            counts, edges = np.histogram(finite, bins=bins, range=(lo, hi))
            ax.stairs(counts, edges, fill=True, color="#4c72b0")
            missing = column.size - finite.size
            if missing:
                ax.text(
                    0.98, 0.95, f"{missing} NaN", ha="right", va="top", fontsize=5, transform=ax.transAxes
                )
        fig.suptitle(title, fontsize=10)
        fig.savefig(path)
    finally:
        plt.close(fig)
    return path


def draw_correlation(
    plt: Any,
    corr: np.ndarray,
    names: Sequence[str],
    order: Sequence[int],
    spans: Sequence[tuple[str, int, int]],
    title: str,
    path: Path,
) -> Path:
    """The correlation matrix in ``order`` with group spans outlined and named."""
    d = len(order)
    labelled = d <= 60
    width = 9.5 if labelled else (10.0 if len(spans) > 1 else 8.5)
    fig, ax = plt.subplots(figsize=(width, 8.5 if labelled else 7.6), dpi=90)
    try:
        image = ax.imshow(corr[np.ix_(order, order)], cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
        fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02, label="Spearman ρ")
        if labelled:
            ax.set_xticks(range(d), [_short(names[i], 24) for i in order], rotation=90, fontsize=5)
            ax.set_yticks(range(d), [_short(names[i], 24) for i in order], fontsize=5)
        else:
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlabel(f"{d} columns, clustered order")
        if len(spans) > 1:
            for k, (name, start, stop) in enumerate(spans):
                ax.add_patch(
                    plt.Rectangle(
                        (start - 0.5, start - 0.5), stop - start, stop - start, fill=False, lw=0.9, ec="black"
                    )
                )
                ax.text(
                    d + 0.5 if labelled else -0.02 * d,
                    (start + stop - 1) / 2,
                    _short(name, 22),
                    ha="left" if labelled else "right",
                    va="center",
                    fontsize=6,
                    color="black" if k % 2 == 0 else "#555555",
                    clip_on=False,
                )
        ax.set_title(title, fontsize=10)
        if len(spans) > 1 and not labelled:  # room on the left for the group names
            fig.subplots_adjust(left=0.24, right=0.9, bottom=0.06, top=0.9)
        else:
            fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)
    return path


def draw_curves(
    plt: Any,
    values: np.ndarray,
    names: Sequence[str],
    operators: Sequence[int],
    title: str,
    columns: range,
    path: Path,
) -> Path:
    """Each column of ``values`` ``(len(operators), T, D)`` over time, one line per operator."""
    fig, axes = _small_multiples(plt, len(columns), title_lines=2)
    try:
        t = np.arange(values.shape[1])
        lines: list[Any] = []
        for ax, j in zip(axes.flat, columns, strict=False):
            ax.set_title(_short(names[j]), fontsize=6.5, pad=2)
            drawn = [
                ax.plot(t, values[k, :, j], lw=0.9, color=f"C{k % 10}")[0] for k in range(values.shape[0])
            ]
            lines = lines or drawn
        fig.legend(
            lines, [f"operator {i}" for i in operators], loc="upper right", fontsize=7, ncol=len(operators)
        )
        fig.suptitle(title, fontsize=10, x=0.02, ha="left")
        fig.savefig(path)
    finally:
        plt.close(fig)
    return path


# -------------------------------------------------------------------------------------------- driver


@dataclass
class FeaturePictures:
    """What :func:`render_feature_pictures` wrote.

    :param files: family → the pictures written for it, in order.
    :param grouping: family → where its column grouping came from (``clustering`` or the model folder).
    :param notes: things left out, and why.
    """

    files: dict[str, list[Path]] = field(default_factory=dict)
    grouping: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def all_files(self) -> list[Path]:
        """Every picture, family by family."""
        return [p for paths in self.files.values() for p in paths]


def _family_names(reader: Any, families: Sequence[str] | None) -> list[str]:
    present = reader.feature_families()
    if not present:
        raise ValueError(f"{reader.path} holds no feature families (run `spinlock extract`)")
    if families is None:
        return present
    missing = [f for f in families if f not in present]
    if missing:
        raise ValueError(f"{reader.path}: no feature families {missing}; stored: {', '.join(present)}")
    return list(families)


def render_feature_pictures(
    dataset: str | Path,
    output: str | Path,
    *,
    families: Sequence[str] | None = None,
    operators: Sequence[int] | None = None,
    model: str | Path | None = None,
    per_page: int = 48,
    progress: ProgressFn | None = None,
) -> FeaturePictures:
    """Histograms, correlation heatmaps and time curves of a dataset's feature families.

    :param dataset: the dataset file.
    :param output: folder for the pictures (``output/<family>/...``, created).
    :param families: families to draw (default: all stored).
    :param operators: operators whose per-timestep curves are drawn (default: the first three ``ok``).
    :param model: a ``spinlock train-vqvae`` folder whose categories group the correlation columns
        (default: the model recorded with the dataset's tokens, when present).
    :param per_page: histograms (and curves) per page.
    :raises MissingDependencyError: matplotlib or scipy is missing, or ``model`` is given without
        spinlock-vqvae.
    :raises spinlock.core.storage.DatasetError: the file is not a readable Spinlock dataset.
    :raises ValueError: unknown families, bad operators, a bad model folder, no usable operators.
    """
    from spinlock.core.storage import open_dataset

    if per_page < 1:
        raise ValueError(f"per_page must be >= 1, got {per_page}")
    plt = import_pyplot()
    _import_hierarchy()
    tick = progress or (lambda _stage, _done, _total: None)
    result = FeaturePictures()
    out = Path(output)
    with open_dataset(dataset) as reader:
        names_of = _family_names(reader, families)
        n = reader.n_operators
        status = np.asarray(reader.status())
        done = np.asarray(reader.done(), dtype=bool)
        ok = np.flatnonzero(done & (status == "ok"))
        rows = ok if ok.size else np.flatnonzero(done)
        if rows.size == 0:
            raise ValueError(f"{dataset}: no completed operators to draw")
        if operators is None:
            chosen = [int(i) for i in rows[:DEFAULT_CURVE_OPERATORS]]
        else:
            chosen = [int(i) for i in operators]
            bad = [i for i in chosen if not 0 <= i < n]
            if bad:
                raise ValueError(f"operators {bad} are outside [0, {n}) of {dataset}")
            pending = [i for i in chosen if not done[i]]
            if pending:
                raise ValueError(f"operators {pending} of {dataset} are not generated yet (pending)")
        categories: TokenizerCategories | None = None
        if model is not None:
            categories = load_tokenizer_categories(model)
        else:
            found = _model_dir_from_tokens(reader)
            if found is not None:
                try:
                    categories = load_tokenizer_categories(found)
                except (MissingDependencyError, ValueError) as exc:
                    result.notes.append(f"token categories not used: {exc}")
        data = {}
        for family in names_of:
            feature = reader.features(family, rows)
            info = reader.feature_info(family)
            curves = reader.features(family, chosen).values if info.per_timestep is not None else None
            data[family] = (feature.values, feature.names, info, curves)

    total = sum(
        len(_pages(len(names), per_page)) * (2 if curves is not None else 1) + 1
        for _, names, _, curves in data.values()
    )
    done_count = 0
    for family, (values, names, info, curves) in data.items():
        folder = out / family
        folder.mkdir(parents=True, exist_ok=True)
        files: list[Path] = []
        d = len(names)
        per_timestep = values.ndim == 3
        pooled = values.reshape(-1, d) if per_timestep else values
        pages = _pages(d, per_page)
        what = f"{rows.size} operators" + (f" × {values.shape[1]} steps" if per_timestep else "")
        for k, columns in enumerate(pages):
            title = (
                f"{family} (v{info.version}): columns {columns.start + 1}–{columns.stop} of {d}, "
                f"{what}  ·  page {k + 1}/{len(pages)}"
            )
            files.append(
                draw_histograms(plt, pooled, names, title, columns, folder / f"histograms_{k + 1:02d}.png")
            )
            done_count += 1
            tick("drawing features", done_count, total)
        per_operator = np.nanmean(values, axis=1) if per_timestep else values
        corr = spearman_matrix(per_operator)
        groups = categories.groups(family, names) if categories is not None else None
        if groups is not None and categories is not None:
            order, spans = grouped_order(corr, groups)
            result.grouping[family] = str(categories.source)
            how = f"grouped by the {len(spans)} token categories of {categories.source}"
        else:
            order, spans = cluster_order(corr), []
            result.grouping[family] = "clustering"
            how = "hierarchical clustering order"
        title = (
            f"{family}: Spearman correlation of {d} columns over {rows.size} operators"
            + (" (time means)" if per_timestep else "")
            + f"\n{how}"
        )
        files.append(draw_correlation(plt, corr, names, order, spans, title, folder / "correlation.png"))
        done_count += 1
        tick("drawing features", done_count, total)
        if curves is not None:
            for k, columns in enumerate(pages):
                title = f"{family} over time: columns {columns.start + 1}–{columns.stop} of {d}  ·  page {k + 1}/{len(pages)}"
                files.append(
                    draw_curves(
                        plt, curves, names, chosen, title, columns, folder / f"curves_{k + 1:02d}.png"
                    )
                )
                done_count += 1
                tick("drawing features", done_count, total)
        result.files[family] = files
    return result


# ----------------------------------------------------------------------------------------- command line


def _split(text: str | None) -> list[str] | None:
    if text is None:
        return None
    items = [s.strip() for s in text.split(",") if s.strip()]
    return items or None


def _parse_operators(text: str | None) -> list[int] | None:
    items = _split(text)
    if items is None:
        return None
    try:
        values = [int(s) for s in items]
    except ValueError:
        raise ValueError(f"--operators must be integers like 0,1, got {text!r}") from None
    if any(v < 0 for v in values):
        raise ValueError(f"--operators must be >= 0, got {text!r}")
    return list(dict.fromkeys(values))


def register_visualize(app: Any) -> None:
    """Add ``visualize features`` to ``app`` (into the existing ``visualize`` group, or a new one)."""
    import typer

    from spinlock.core.cli.errors import fail, require_file

    group = visualize_group(app)

    @group.command("features")
    def features(
        dataset: Path = typer.Argument(..., help="Dataset file (.h5).", show_default=False),
        output: Path = typer.Option(Path("features"), "--output", "-o", help="Folder for the pictures."),
        families: str | None = typer.Option(
            None, "--families", "-f", help="Families to draw (default: all)."
        ),
        operators: str | None = typer.Option(
            None, "--operators", help="Operators whose per-timestep curves are drawn, e.g. 0,1."
        ),
        model: Path | None = typer.Option(
            None, "--model", "-m", help="A train-vqvae folder: group correlations by its token categories."
        ),
        per_page: int = typer.Option(48, "--per-page", min=1, help="Histograms per page."),
    ) -> None:
        """Histograms, clustered correlation heatmaps and time curves of every feature family."""
        from spinlock.core.storage import DatasetError

        try:
            chosen = _parse_operators(operators)
        except ValueError as exc:
            fail(str(exc))
        require_file(dataset)
        if model is not None and not model.is_dir():
            fail(f"--model {model}: no such folder")
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

        with bar:
            try:
                result = render_feature_pictures(
                    dataset,
                    output,
                    families=_split(families),
                    operators=chosen,
                    model=model,
                    per_page=per_page,
                    progress=advance,
                )
            except (MissingDependencyError, DatasetError, ValueError, OSError) as exc:
                bar.stop()
                fail(str(exc))
        err = Console(stderr=True)
        for note in result.notes:
            err.print(f"note: {note}", markup=False)
        for path in result.all_files():
            typer.echo(str(path))
