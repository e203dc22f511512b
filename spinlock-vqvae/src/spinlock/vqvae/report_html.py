"""``spinlock report D.h5 [--model DIR] --output report.html``: one self-contained HTML page about a dataset.

The page needs nothing else: pictures are embedded as base64 PNG (``<img src="data:image/png;base64,…">``),
the style is inline CSS, there is no script and no external resource, so it can be mailed, archived or
opened offline. Sections (each an ``<h2>``, in this order — :data:`SECTIONS`):

1. **Configuration** — the stored run config (YAML);
2. **Provenance** — distributions and versions that wrote the file, format version, seed, compute plan;
3. **Sampling quality** — the stored sample-quality metrics (``reader.parameter_quality``) and the
   distribution of every unit-cube column;
4. **Initial-condition mix** — operators per IC type;
5. **Rollout outcome** — operators per status (``ok``, ``diverged``, ``failed``, ``pending``) and the steps at
   which the diverged ones stopped;
6. **Features** — every family's width, versions, provider and missing values, and a few distributions;
7. **Tokens** — each ``/tokens/<name>`` set: categories, levels, coverage, per-category coarse-token
   histograms and per-level perplexity; with ``--model``, the tokenizer's headline metrics, training curves
   and codebook usage;
8. **Example rollouts per coarse token** — for the most frequent coarse tokens of the first category, 1–3
   operators each (realization 0 at a few times), from the stored trajectories or, when the dataset stores
   none, recomputed with spinlock-operators (looked up at run time; without it the page says so).

matplotlib (``pip install 'spinlock-vqvae[viz]'``) is imported when the report is made, with the headless
Agg backend.
"""

from __future__ import annotations

import base64
import datetime
import html
import importlib
import json
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from spinlock.vqvae.viz import (
    MissingDependencyError,
    draw_codebooks,
    draw_training_curves,
    figure_png,
    import_pyplot,
    read_model_folder,
)

#: ``progress(stage, done, total)``.
ProgressFn = Callable[[str, int, int], None]

#: The section headings, in page order.
SECTIONS = (
    "Configuration",
    "Provenance",
    "Sampling quality",
    "Initial-condition mix",
    "Rollout outcome",
    "Features",
    "Tokens",
    "Example rollouts per coarse token",
)

STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 0; color: #222;
       background: #fafafa; }
main { max-width: 1150px; margin: 0 auto; padding: 1.2em 2em 3em; background: #fff; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; border-bottom: 2px solid #4c72b0; padding-bottom: 0.2em; margin-top: 2em; }
h3 { font-size: 1.05em; margin-top: 1.4em; }
p.meta { color: #666; margin-top: 0; }
nav ol { columns: 2; font-size: 0.95em; }
pre { background: #f4f4f4; border: 1px solid #ddd; padding: 0.8em; overflow-x: auto; font-size: 0.82em;
      max-height: 32em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.88em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #eef2f8; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; height: auto; border: 1px solid #eee; margin: 0.4em 0; }
figure { margin: 0.8em 0; }
figcaption { color: #555; font-size: 0.85em; }
.note { background: #fff8e1; border-left: 4px solid #f0b400; padding: 0.5em 0.8em; font-size: 0.9em; }
.tokens { display: flex; flex-wrap: wrap; gap: 0.8em; }
.tokens figure { flex: 0 0 auto; max-width: 360px; }
"""


# ---------------------------------------------------------------------------------------------- html bits


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{data}">'


def _figure(png: bytes, caption: str) -> str:
    return f"<figure>{_img(png, caption)}<figcaption>{_e(caption)}</figcaption></figure>"


def _note(text: str) -> str:
    return f'<p class="note">{_e(text)}</p>'


def _format(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list | tuple):
        shown = ", ".join(_format(v) for v in value[:8])
        return f"[{shown}{', …' if len(value) > 8 else ''}]"
    if isinstance(value, Mapping):
        return json.dumps(value, default=str)[:300]
    return str(value)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for value in row:
            cls = ' class="num"' if isinstance(value, int | float) and not isinstance(value, bool) else ""
            cells.append(f"<td{cls}>{_e(_format(value))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _flatten(mapping: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.extend(_flatten(value, name + "."))
        else:
            out.append((name, value))
    return out


def perplexity(ids: np.ndarray) -> float:
    """``exp(entropy)`` of the empirical distribution of ``ids`` (ignoring ``-1``); 0 for no ids."""
    ids = np.asarray(ids)
    ids = ids[ids >= 0]
    if ids.size == 0:
        return 0.0
    p = np.bincount(ids).astype(np.float64) / ids.size
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


# ------------------------------------------------------------------------------------------------ figures


def _grid(n: int, max_cols: int = 4) -> tuple[int, int]:
    cols = min(max_cols, max(1, math.ceil(math.sqrt(n))))
    return math.ceil(n / cols), cols


def _unit_histograms(plt: Any, unit: np.ndarray, names: Sequence[str]) -> bytes:
    k = min(len(names), 12)
    rows, cols = _grid(k, 6)
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 1.7 * rows + 0.4), squeeze=False)
    for ax in axes.flat[k:]:
        ax.axis("off")
    bins = int(np.clip(round(math.sqrt(unit.shape[0])), 4, 16))
    for j, ax in zip(range(k), axes.flat, strict=False):
        ax.hist(unit[:, j][np.isfinite(unit[:, j])], bins=bins, range=(0, 1), color="#4c72b0")
        ax.set_title(names[j][:24], fontsize=7)
        ax.tick_params(labelsize=6)
        ax.set_yticks([])
    fig.suptitle("unit-cube columns (a balanced sample is flat)", fontsize=9)
    fig.tight_layout()
    return figure_png(plt, fig)


def _bar_chart(plt: Any, counts: Mapping[str, int], title: str) -> bytes:
    labels = list(counts)
    fig, ax = plt.subplots(figsize=(max(5.0, 0.45 * len(labels) + 1.5), 3.0))
    ax.bar(range(len(labels)), [counts[k] for k in labels], color="#4c72b0")
    ax.set_xticks(
        range(len(labels)),
        [k[:22] for k in labels],
        rotation=45 if len(labels) > 4 else 0,
        ha="right" if len(labels) > 4 else "center",
        fontsize=7,
    )
    ax.set_title(title, fontsize=9)
    ax.tick_params(labelsize=7)
    fig.tight_layout()
    return figure_png(plt, fig)


def _hist(plt: Any, values: np.ndarray, title: str, xlabel: str) -> bytes:
    fig, ax = plt.subplots(figsize=(5.0, 2.6))
    ax.hist(values, bins=min(30, max(5, int(math.sqrt(values.size)))), color="#c44e52")
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.tick_params(labelsize=7)
    fig.tight_layout()
    return figure_png(plt, fig)


def _feature_distributions(plt: Any, families: Mapping[str, tuple[np.ndarray, Sequence[str]]]) -> bytes:
    """Four columns per family (evenly spaced), a histogram each."""
    per = 4
    fig, axes = plt.subplots(
        len(families), per, figsize=(2.6 * per, 1.8 * len(families) + 0.3), squeeze=False
    )
    for r, (family, (values, names)) in enumerate(families.items()):
        d = len(names)
        picks = sorted({round(x) for x in np.linspace(0, d - 1, min(per, d))})
        flat = values.reshape(-1, d)
        for c in range(per):
            ax = axes[r][c]
            if c >= len(picks):
                ax.axis("off")
                continue
            column = flat[:, picks[c]]
            finite = column[np.isfinite(column)]
            if finite.size:
                ax.hist(finite, bins=min(25, max(4, int(math.sqrt(finite.size)))), color="#55a868")
            ax.set_title(f"{family}: {names[picks[c]]}"[:34], fontsize=7)
            ax.tick_params(labelsize=6)
            ax.set_yticks([])
    fig.tight_layout()
    return figure_png(plt, fig)


def _token_histograms(plt: Any, ids: np.ndarray, categories: Sequence[str], sizes: Sequence[int]) -> bytes:
    """Per category, the counts of each coarse token (level 0)."""
    from matplotlib.ticker import MaxNLocator

    k = len(categories)
    rows, cols = _grid(k)
    fig, axes = plt.subplots(rows, cols, figsize=(3.0 * cols, 2.0 * rows + 0.4), squeeze=False)
    for ax in axes.flat[k:]:
        ax.axis("off")
    for c, ax in zip(range(k), axes.flat, strict=False):
        coarse = ids[:, c, 0]
        coarse = coarse[coarse >= 0]
        counts = np.bincount(coarse, minlength=sizes[c]) if coarse.size else np.zeros(sizes[c], dtype=int)
        ax.bar(range(len(counts)), counts, color="#8172b2", width=0.85)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(f"{categories[c][:22]} · ppl {perplexity(coarse):.1f}/{sizes[c]}", fontsize=7)
        ax.tick_params(labelsize=6)
    fig.suptitle("coarse tokens per category (ppl: perplexity / codebook size)", fontsize=9)
    fig.tight_layout()
    return figure_png(plt, fig)


def _snapshot_rgb(frame: np.ndarray, lo: np.ndarray, hi: np.ndarray, cmap: Any) -> np.ndarray:
    """``(C, H, W)`` → ``(H, W, 3)`` floats: channels 0–2 as RGB, or one channel through ``cmap``."""
    span = np.where(hi > lo, hi - lo, 1.0)
    unit = np.clip((np.nan_to_num(frame) - lo[:, None, None]) / span[:, None, None], 0.0, 1.0)
    if unit.shape[0] == 1:
        return np.asarray(cmap(unit[0])[..., :3])
    rgb = np.zeros((3, *unit.shape[1:]))
    rgb[: min(3, unit.shape[0])] = unit[:3]
    return rgb.transpose(1, 2, 0)


def rollout_sheet(
    plt: Any, clips: Sequence[tuple[int, np.ndarray]], *, snapshots: int = 4, title: str = "", stride: int = 1
) -> bytes:
    """Realization 0 of each ``(index, (M, T, C, H, W))`` clip at ``snapshots`` times, one row per operator.

    Each clip's channels are min–max normalised over the whole clip; C = 1 uses viridis, otherwise channels
    0–2 are R, G, B.
    """
    cmap = plt.get_cmap("viridis")
    T = clips[0][1].shape[1]
    times = sorted({round(t) for t in np.linspace(0, T - 1, min(snapshots, T))})
    fig, axes = plt.subplots(
        len(clips), len(times), figsize=(1.05 * len(times) + 0.5, 1.1 * len(clips) + 0.35), squeeze=False
    )
    for r, (index, clip) in enumerate(clips):
        x = np.nan_to_num(np.asarray(clip, dtype=np.float64))
        lo = x.min(axis=(0, 1, 3, 4))
        hi = x.max(axis=(0, 1, 3, 4))
        for c, t in enumerate(times):
            ax = axes[r][c]
            ax.imshow(_snapshot_rgb(x[0, t], lo, hi, cmap), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"step {t * stride}", fontsize=6)
            if c == 0:
                ax.set_ylabel(f"op {index}", fontsize=6)
    if title:
        fig.suptitle(title, fontsize=8)
    fig.tight_layout(pad=0.3)
    return figure_png(plt, fig, dpi=72)


# ------------------------------------------------------------------------------------------------ report


@dataclass
class ReportResult:
    """What :func:`build_report` made: the page, its sections and what was left out (and why)."""

    html: str
    sections: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    images: int = 0


def _load_clips(
    path: Path, reader: Any, indices: Sequence[int]
) -> tuple[dict[int, np.ndarray], int, str | None]:
    """Trajectories of ``indices``: stored, or replayed via spinlock-operators. Returns (clips, stride, note)."""
    if not indices:
        return {}, 1, None
    if reader.has_trajectories:
        values = reader.trajectories(list(indices))
        return (
            {i: np.asarray(values[k], dtype=np.float32) for k, i in enumerate(indices)},
            int(reader.stride or 1),
            None,
        )
    try:
        rollouts = importlib.import_module("spinlock.operators.viz.rollouts")
    except ImportError:
        return (
            {},
            1,
            (
                "The dataset stores no trajectories, and recomputing them needs spinlock-operators, which is not "
                "installed (pip install spinlock-operators): no example rollouts."
            ),
        )
    try:
        clips = rollouts.load_rollouts(path, list(indices))
    except Exception as exc:  # a replay that cannot run must not lose the rest of the report
        return {}, 1, f"The example rollouts could not be recomputed: {exc}"
    stride = clips[0].stride if clips else 1
    return {c.index: c.trajectories for c in clips}, stride, None


def build_report(
    dataset: str | Path,
    *,
    model: str | Path | None = None,
    token_set: str | None = None,
    per_token: int = 2,
    max_tokens: int = 12,
    progress: ProgressFn | None = None,
) -> ReportResult:
    """The HTML page of ``dataset`` (see the module docstring).

    :param model: a ``spinlock train-vqvae`` folder: its metrics, training curves and codebook usage.
    :param token_set: the token set whose first category picks the example rollouts (default: ``vqvae``
        when stored, else the first).
    :param per_token: example operators per coarse token (1–3).
    :param max_tokens: coarse tokens with examples, most frequent first.
    :raises MissingDependencyError: matplotlib is missing.
    :raises spinlock.core.storage.DatasetError: the file is not a readable Spinlock dataset.
    :raises ValueError: a bad model folder, an unknown token set or bad counts.
    """
    from spinlock.core.storage import open_dataset

    if not 1 <= per_token <= 3:
        raise ValueError(f"per_token must be 1, 2 or 3, got {per_token}")
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
    folder = read_model_folder(model) if model is not None else None
    plt = import_pyplot()
    path = Path(dataset)
    tick = progress or (lambda _stage, _done, _total: None)
    result = ReportResult(html="")
    parts: list[str] = []
    stage = "writing report"

    def section(title: str, body: str) -> None:
        anchor = title.lower().replace(" ", "-")
        parts.append(f'<section id="{anchor}"><h2>{_e(title)}</h2>\n{body}\n</section>')
        result.sections.append(title)
        tick(stage, len(result.sections), len(SECTIONS))

    with open_dataset(path) as reader:
        n = reader.n_operators
        done = np.asarray(reader.done(), dtype=bool)
        status = reader.status()
        ic_types = reader.ic_types()
        token_names = reader.token_sets()
        if token_set is not None and token_set not in token_names:
            stored = ", ".join(token_names) or "none"
            raise ValueError(f"{path}: no token set {token_set!r}; stored: {stored}")

        # 1. configuration
        section("Configuration", f"<pre>{_e(reader.config_yaml)}</pre>")

        # 2. provenance
        rows: list[list[Any]] = [[k, v] for k, v in sorted(reader.provenance.items())]
        rows += [["format version", reader.format_version], ["seed", reader.seed], ["operators", n]]
        rows.append(["completed", int(done.sum())])
        plan = reader.compute_plan
        if plan:
            rows += [[f"compute plan: {k}", v] for k, v in plan.items()]
        if reader.has_trajectories:
            rows.append(["trajectories (N, M, T′, C, H, W)", list(reader.trajectory_shape or ())])
            rows.append(["stride / steps", f"{reader.stride} / {reader.steps}"])
        else:
            rows.append(["trajectories", "not stored (examples below are recomputed)"])
        rows.append(["initial conditions (C, H, W)", list(reader.ic_shape)])
        section("Provenance", _table(["item", "value"], rows))

        # 3. sampling quality
        quality = reader.parameter_quality
        body = (
            _table(["metric", "value"], _flatten(quality))
            if quality
            else _note("No sample-quality metrics are stored with the parameters.")
        )
        names = reader.parameter_names
        body += f"<p>{len(names)} sampled parameters: {_e(', '.join(names))}</p>"
        if names and done.any():
            unit = reader.unit_parameters()[done]
            body += _figure(_unit_histograms(plt, unit, names), "distribution of each unit-cube column")
            result.images += 1
        section("Sampling quality", body)

        # 4. IC mix
        mix = Counter(t for t, d in zip(ic_types, done.tolist(), strict=True) if d)
        total = max(1, sum(mix.values()))
        rows = [[name, count, f"{count / total:.1%}"] for name, count in mix.most_common()]
        body = _table(["IC type", "operators", "share"], rows)
        if mix:
            body += _figure(_bar_chart(plt, dict(mix.most_common()), "operators per IC type"), "IC mix")
            result.images += 1
        section("Initial-condition mix", body)

        # 5. rollout outcome
        counts = Counter(status)
        rows = [
            [s, counts.get(s, 0), f"{counts.get(s, 0) / max(1, n):.1%}"]
            for s in ("ok", "diverged", "failed", "pending")
        ]
        rows += [
            [s, c, f"{c / max(1, n):.1%}"]
            for s, c in counts.items()
            if s not in ("ok", "diverged", "failed", "pending")
        ]
        body = _table(["status", "operators", "share"], rows)
        diverged_step = np.asarray(reader.diverged_step())
        stopped = diverged_step[diverged_step >= 0]
        if stopped.size:
            body += _figure(
                _hist(plt, stopped.astype(np.float64), "step at which diverged operators stopped", "step"),
                f"{stopped.size} diverged operators",
            )
            result.images += 1
        section("Rollout outcome", body)

        # 6. features
        families = reader.feature_families()
        if families:
            rows = []
            samples: dict[str, tuple[np.ndarray, Sequence[str]]] = {}
            ok_rows = np.flatnonzero(done & (np.asarray(status) == "ok"))
            for family in families:
                info = reader.feature_info(family)
                values = reader.features(family, ok_rows).values if ok_rows.size else np.zeros((0, info.dim))
                missing = float(np.mean(~np.isfinite(values))) if values.size else 0.0
                rows.append(
                    [
                        family,
                        info.dim,
                        info.per_timestep if info.per_timestep is not None else "—",
                        info.version,
                        info.provider,
                        f"{missing:.2%}",
                    ]
                )
                if values.size and info.dim:
                    samples[family] = (values, list(info.names))
            body = _table(
                ["family", "D (columns)", "T (per step)", "version", "provider", "non-finite"], rows
            )
            if samples:
                body += _figure(
                    _feature_distributions(plt, samples),
                    f"a few columns of each family over the {ok_rows.size} operators with status ok",
                )
                result.images += 1
        else:
            body = _note("No feature families are stored (run `spinlock extract`).")
        section("Features", body)

        # 7. tokens
        body = ""
        chosen_set = token_set or (
            "vqvae" if "vqvae" in token_names else (token_names[0] if token_names else None)
        )
        token_values: dict[str, Any] = {}
        for name in token_names:
            tokens = reader.tokens(name)
            token_values[name] = tokens
            tokenized = tokens.tokenized
            sizes = [row[0] for row in tokens.codebook_sizes]
            body += f"<h3>Token set <code>{_e(name)}</code></h3>"
            rows = [
                ["ids (N, K, L)", list(tokens.ids.shape)],
                ["categories", len(tokens.categories)],
                ["levels", ", ".join(tokens.levels)],
                ["tokenized", f"{int(tokenized.sum())} of {n} ({float(tokenized.mean()):.1%})"],
                ["version / provider", f"{tokens.version} / {tokens.provider}"],
            ]
            rows += [[f"model: {k}", v] for k, v in tokens.model.items()]
            body += _table(["item", "value"], rows)
            header = ["category", *[f"{lvl}: ppl / size" for lvl in tokens.levels], "coarse codes used"]
            prow = []
            for k, category in enumerate(tokens.categories):
                cells: list[Any] = [category]
                for lvl in range(tokens.n_levels):
                    ppl = perplexity(tokens.ids[:, k, lvl])
                    cells.append(f"{ppl:.2f} / {tokens.codebook_sizes[k][lvl]}")
                coarse = tokens.ids[:, k, 0]
                cells.append(int(np.unique(coarse[coarse >= 0]).size))
                prow.append(cells)
            body += _table(header, prow)
            if tokenized.any():
                body += _figure(
                    _token_histograms(plt, tokens.ids[tokenized], tokens.categories, sizes),
                    f"coarse tokens of {name}",
                )
                result.images += 1
        if not token_names:
            body += _note("No token sets are stored (run `spinlock tokenize --model DIR --dataset D.h5`).")
        if folder is not None:
            body += _model_section(plt, folder, result)
        section("Tokens", body)

        # 8. example rollouts
        body, examples = "", []
        if chosen_set is not None:
            tokens = token_values[chosen_set]
            coarse = tokens.ids[:, 0, 0]
            eligible = done & (np.asarray(status) == "ok") & (coarse >= 0)
            frequency = Counter(coarse[eligible].tolist())
            picked = [tok for tok, _ in frequency.most_common(max_tokens)]
            for tok in picked:
                members = [int(i) for i in np.flatnonzero(eligible & (coarse == tok))[:per_token]]
                examples.append((f"token {tok} ({frequency[tok]} operators)", members))
            body += (
                f"<p>Category <b>{_e(tokens.categories[0])}</b> of token set <code>{_e(chosen_set)}</code>: "
                f"the {len(picked)} most frequent coarse tokens, up to {per_token} operators each "
                "(realization 0; each operator's channels min–max normalised over its clip).</p>"
            )
        else:
            first = [int(i) for i in np.flatnonzero(done & (np.asarray(status) == "ok"))[: 3 * per_token]]
            if first:
                examples.append(("first operators with status ok", first))
            body += _note("No token sets are stored, so the examples are simply the first operators.")
        wanted = sorted({i for _, members in examples for i in members})
        clips, stride, note = _load_clips(path, reader, wanted)
        source = "stored trajectories" if reader.has_trajectories else "recomputed from the stored config"
    if note is not None:
        body += _note(note)
        result.notes.append(note)
    elif examples:
        figures = []
        for caption, members in examples:
            shown = [(i, clips[i]) for i in members if i in clips]
            if shown:
                png = rollout_sheet(plt, shown, title=caption, stride=stride)
                figures.append(_figure(png, f"{caption}: operators {', '.join(map(str, members))}"))
                result.images += 1
        body += f"<p>Source: {_e(source)}.</p>" + '<div class="tokens">' + "".join(figures) + "</div>"
    else:
        body += _note("No completed operator with status ok to show.")
    section("Example rollouts per coarse token", body)

    created = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    toc = "".join(f'<li><a href="#{s.lower().replace(" ", "-")}">{_e(s)}</a></li>' for s in result.sections)
    result.html = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>Spinlock report: {_e(path.name)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n"
        f"<h1>Spinlock report: {_e(path.name)}</h1>\n"
        f'<p class="meta">{_e(path)} · {n} operators · made {created}'
        + (f" · model {_e(folder.directory)}" if folder is not None else "")
        + f"</p>\n<nav><ol>{toc}</ol></nav>\n"
        + "\n".join(parts)
        + "\n</main>\n</body>\n</html>\n"
    )
    return result


def _model_section(plt: Any, folder: Any, result: ReportResult) -> str:
    """The tokenizer's headline metrics, training curves and codebook usage."""
    body = f"<h3>Tokenizer <code>{_e(folder.directory)}</code></h3>"
    metrics = folder.metrics or {}
    rows: list[list[Any]] = []
    rec = metrics.get("reconstruction", {})
    if isinstance(rec, Mapping):
        for key in ("overall", "mean_column", "temporal"):
            if rec.get(key) is not None:
                rows.append([f"held-out reconstruction R² ({key})", rec[key]])
    if metrics.get("coarse_perplexity_min_share") is not None:
        rows.append(["lowest coarse perplexity / codebook size", metrics["coarse_perplexity_min_share"]])
    rows += [[f"training: {k}", v] for k, v in (metrics.get("training") or {}).items()]
    if rows:
        body += _table(["metric", "value"], rows)
    else:
        body += _note(f"{folder.directory} has no metrics.json.")
        result.notes.append("model folder without metrics.json")
    best = (metrics.get("training") or {}).get("best_epoch")
    if folder.history:
        body += _figure(
            figure_png(
                plt, draw_training_curves(plt, folder.history, best if isinstance(best, int) else None)
            ),
            "training curves",
        )
        result.images += 1
    if metrics.get("codebooks"):
        body += _figure(figure_png(plt, draw_codebooks(plt, metrics["codebooks"])), "codebook usage")
        result.images += 1
    return body


def write_report(
    dataset: str | Path,
    output: str | Path,
    **kwargs: Any,
) -> ReportResult:
    """:func:`build_report` written to ``output`` (UTF-8; parents created)."""
    result = build_report(dataset, **kwargs)
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(result.html, encoding="utf-8")
    return result


# ------------------------------------------------------------------------------------------ command line


def register_report(app: Any) -> None:
    """Add ``spinlock report`` to ``app``."""
    import typer

    from spinlock.core.cli.errors import fail, require_file

    @app.command("report")
    def report(
        dataset: Path = typer.Argument(..., help="Dataset file (.h5).", show_default=False),
        output: Path = typer.Option(Path("report.html"), "--output", "-o", help="HTML file to write."),
        model: Path | None = typer.Option(
            None, "--model", "-m", help="A train-vqvae folder: add its metrics, curves and codebook usage."
        ),
        tokens: str | None = typer.Option(
            None, "--tokens", help="Token set whose coarse tokens pick the example rollouts."
        ),
        per_token: int = typer.Option(2, "--per-token", min=1, max=3, help="Example operators per token."),
        max_tokens: int = typer.Option(12, "--max-tokens", min=1, help="Coarse tokens with examples."),
    ) -> None:
        """One self-contained HTML page: config, provenance, sampling, IC mix, outcome, features, tokens,
        example rollouts."""
        from spinlock.core.storage import DatasetError
        from spinlock.vqvae.viz import stderr_progress

        require_file(dataset)
        if output.suffix.lower() not in (".html", ".htm"):
            fail(f"--output {output}: the report is HTML; name it *.html")
        bar, advance = stderr_progress()
        with bar:
            try:
                result = write_report(
                    dataset,
                    output,
                    model=model,
                    token_set=tokens,
                    per_token=per_token,
                    max_tokens=max_tokens,
                    progress=advance,
                )
            except (MissingDependencyError, DatasetError, ValueError, OSError) as exc:
                bar.stop()
                fail(str(exc))
        from rich.console import Console

        err = Console(stderr=True)
        for note in result.notes:
            err.print(f"note: {note}", markup=False)
        typer.echo(str(output))
