"""Metrics and the interpretability report of a trained tokenizer (JSON + readable text).

Computed on the held-out samples (all samples when there is no validation split):

- ``reconstruction``: R² of the static features overall, per category (pooled), of TEMPORAL (every step)
  and of TEMPORAL's time mean;
- ``codebooks``: per category and level, utilisation, perplexity (and its share of the codebook size) and
  dead codes — perplexity exposes collapse that utilisation hides (the reference's BUG-22);
- ``token_clusters``: silhouette and Davies–Bouldin of each category's coarse tokens in that category's
  (cleaned) feature space;
- ``inter_category``: correlation and distance between the categories' mean profiles;
- ``categories``: every category with its members and top features;
- ``token_centroids``: per category, each used coarse token's centroid over the category's columns in the
  original feature units (the cleaning inverted);
- ``cross_family``: cross-validated R² of predicting each feature family from each other one (ARCHITECTURE,
  INITIAL, SUMMARY and the time-mean of TEMPORAL), so a user can check that the families agree;
- ``nonfinite``: the NaN/inf in the features and what became of them (columns dropped, columns imputed with
  the share of imputed training values, temporal values replaced), so no NaN disappears unreported.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from spinlock.vqvae import metrics
from spinlock.vqvae.data import FeatureTable
from spinlock.vqvae.tokenizer import Tokenizer, static_blocks


def _r2(x: np.ndarray, x_hat: np.ndarray) -> float | None:
    total = ((x - x.mean(axis=0)) ** 2).sum()
    return None if total <= 0 else float(1.0 - ((x - x_hat) ** 2).sum() / total)


def tokenizer_metrics(
    tokenizer: Tokenizer,
    table: FeatureTable,
    evaluation_index: np.ndarray,
    *,
    extra_blocks: Mapping[str, np.ndarray] | None = None,
    top_k: int = 5,
) -> dict[str, Any]:
    """All metrics of ``tokenizer`` on the samples ``evaluation_index`` of ``table`` (JSON-ready)."""
    held_out = table.take(evaluation_index) if len(evaluation_index) else table
    static, temporal = tokenizer.inputs(held_out)
    z = static.cpu().numpy().astype(np.float64)
    rec_static, rec_temporal = tokenizer.reconstruct(held_out)
    codes = tokenizer.tokenize(held_out)
    cmap = tokenizer.categories
    names = tokenizer.category_names
    sizes = tokenizer.codebook_sizes

    reconstruction = metrics.reconstruction_r2(z, rec_static, cmap)
    reconstruction.pop("per_column")
    if temporal is not None and rec_temporal is not None:
        series = temporal.cpu().numpy()
        reconstruction["temporal"] = _r2(series.reshape(len(z), -1), rec_temporal.reshape(len(z), -1))
        # the level of each TEMPORAL feature, without its per-step course (the reference's static vector
        # held only this time mean)
        reconstruction["temporal_time_mean"] = _r2(series.mean(axis=1), rec_temporal.mean(axis=1))
        if tokenizer.temporal_categories is not None:
            reconstruction["per_temporal_category"] = {
                category.name: _r2(
                    series[:, :, list(category.indices)].reshape(len(z), -1),
                    rec_temporal[:, :, list(category.indices)].reshape(len(z), -1),
                )
                for category in tokenizer.temporal_categories.categories
            }

    codebooks: dict[str, Any] = {}
    for k, name in enumerate(names):
        codebooks[name] = {
            level: metrics.codebook_usage(codes[:, k, lvl], sizes[lvl])
            for lvl, level in enumerate(tokenizer.level_names)
        }
        for usage in codebooks[name].values():
            usage.pop("counts", None)
    coarse_perplexity = [codebooks[n][tokenizer.level_names[0]]["perplexity"] for n in names]

    clusters: dict[str, Any] = {}
    centroids: dict[str, Any] = {}
    original = tokenizer.cleaner.inverse_transform(z)
    for k, category in enumerate(cmap.categories):
        cols = list(category.indices)
        clusters[category.name] = metrics.cluster_quality(z[:, cols], codes[:, k, 0])
        c = metrics.token_centroids(original[:, cols], codes[:, k, 0], sizes[0])
        centroids[category.name] = {
            "columns": list(category.members),
            "tokens": {str(code): row.tolist() for code, row in zip(c["codes"], c["centroids"], strict=True)},
            "counts": c["counts"].tolist(),
        }

    result: dict[str, Any] = {
        "samples": {"evaluated": len(z), "total": len(table)},
        "reconstruction": reconstruction,
        "codebooks": codebooks,
        "coarse_perplexity_min_share": float(min(coarse_perplexity) / sizes[0]),
        "token_clusters": clusters,
        "categories": [
            {**entry, "top_features": top}
            for entry, top in zip(cmap.describe(), metrics.top_features(z, cmap, top_k).values(), strict=True)
        ],
        "token_centroids": centroids,
        "nonfinite": nonfinite_summary(tokenizer, table),
    }
    if tokenizer.temporal_categories is not None:
        result["temporal_categories"] = tokenizer.temporal_categories.describe()
    if cmap.n_categories >= 2:
        inter = metrics.inter_category(z, cmap)
        result["inter_category"] = {k: _plain(v) for k, v in inter.items()}
    blocks = dict(static_blocks(held_out, sorted(set(held_out.families))))
    if held_out.temporal is not None:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column: dropped just below
            blocks["temporal (time mean)"] = np.nanmean(held_out.temporal, axis=1)
    blocks.update(extra_blocks or {})
    blocks = {k: _finite_columns(v) for k, v in blocks.items()}
    blocks = {k: v for k, v in blocks.items() if v.shape[1] > 0}
    if len(blocks) >= 2 and len(z) >= 10:
        cross = metrics.cross_family_r2(blocks, folds=min(5, len(z) // 2))
        result["cross_family"] = {k: _plain(v) for k, v in cross.items()}
    return result


def nonfinite_summary(tokenizer: Tokenizer, table: FeatureTable) -> dict[str, Any]:
    """How NaN/inf in the features were handled: static columns dropped or imputed by the cleaning (shares
    of its training rows), temporal values set to their column's centre (counted over all of ``table``)."""
    report = tokenizer.cleaner.report
    imputed = {
        name: round(share, 6)
        for name, share in zip(report.kept, report.imputed_fraction, strict=True)
        if share > 0
    }
    out: dict[str, Any] = {
        "dropped_columns": report.dropped_by_reason()["nonfinite"],
        "imputed_columns": imputed,
    }
    if table.temporal is not None:
        bad = ~np.isfinite(np.asarray(table.temporal))
        out["temporal_values_replaced"] = int(bad.sum())
        out["temporal_columns_all_nonfinite"] = [
            str(name)
            for name, column in zip(table.temporal_names, bad.reshape(-1, bad.shape[-1]).T, strict=True)
            if column.all()
        ]
    return out


def _finite_columns(block: np.ndarray) -> np.ndarray:
    """Columns without NaN/inf and with some variance (what a regression can use)."""
    block = np.asarray(block, dtype=np.float64)
    ok = np.isfinite(block).all(axis=0)
    ok &= np.nanstd(np.where(np.isfinite(block), block, 0.0), axis=0) > 0
    return block[:, ok]


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return np.where(np.isfinite(value), value, np.nan).tolist()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.floating | np.integer):
        return value.item()
    return value


def json_ready(value: Any) -> Any:
    """``value`` with numpy types turned into plain Python (NaN stays NaN)."""
    return _plain(value)
