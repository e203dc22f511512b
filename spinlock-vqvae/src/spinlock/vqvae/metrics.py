"""Evaluation metrics of cleaning, categories and tokens (numpy and scikit-learn; no torch).

Every function returns plain Python values and numpy arrays, ready for :func:`summary_text` or (after
``.tolist()``) JSON. Usage is reported by perplexity and dead codes as well as by the share of codes seen,
because "seen at least once" alone overstates usage (BUG-23 of the reference: 40 % "utilisation" at a
perplexity of 2).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from spinlock.vqvae.categories import CategoryMap

__all__ = [
    "cluster_quality",
    "codebook_usage",
    "cross_family_r2",
    "inter_category",
    "reconstruction_r2",
    "summary_text",
    "token_centroids",
    "top_features",
]


def _matrix(X: Any, what: str, finite: bool = True) -> np.ndarray:
    array = np.asarray(X, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"{what} must be 2-D (samples, features), got shape {array.shape}")
    if array.shape[0] < 1:
        raise ValueError(f"{what} has no samples")
    if finite and not np.all(np.isfinite(array)):
        raise ValueError(f"{what} contains NaN or inf")
    return array


def _codes(codes: Any, size: int) -> np.ndarray:
    if not isinstance(size, int | np.integer) or size < 1:
        raise ValueError(f"codebook size must be an int >= 1, got {size!r}")
    array = np.asarray(codes)
    if array.ndim != 1:
        raise ValueError(f"codes must be 1-D (samples,), got shape {array.shape}")
    if array.size == 0:
        raise ValueError("codes is empty")
    if not np.issubdtype(array.dtype, np.integer):
        if not np.all(np.mod(array, 1) == 0):
            raise ValueError("codes must be integers")
        array = array.astype(np.int64)
    if array.min() < 0 or array.max() >= size:
        raise ValueError(f"codes must lie in [0, {size}), got [{array.min()}, {array.max()}]")
    return array.astype(np.int64)


def codebook_usage(codes: Any, size: int) -> dict[str, Any]:
    """Usage of one codebook from the codes it assigned.

    :param codes: ``(samples,)`` integer code ids in ``[0, size)``.
    :param size: the number of codes ``K``.
    :returns: ``size``, ``n_samples``, ``used`` (codes assigned at least once), ``utilisation``
        (``used / K``), ``perplexity`` (``exp(H)`` of the empirical code distribution, natural log: ``K`` for
        uniform use, 1 for a single code), ``normalised_perplexity`` (``perplexity / K``), ``counts``
        (``(K,)`` int64) and ``dead_codes`` (never-assigned ids, increasing).
    """
    codes = _codes(codes, size)
    counts = np.bincount(codes, minlength=size)
    p = counts[counts > 0] / codes.size
    entropy = float(-(p * np.log(p)).sum())
    perplexity = float(np.exp(entropy))
    used = int((counts > 0).sum())
    return {
        "size": int(size),
        "n_samples": int(codes.size),
        "used": used,
        "utilisation": used / size,
        "perplexity": perplexity,
        "normalised_perplexity": perplexity / size,
        "counts": counts.astype(np.int64),
        "dead_codes": np.flatnonzero(counts == 0).tolist(),
    }


def cluster_quality(X: Any, labels: Any, max_samples: int | None = 10_000, seed: int = 0) -> dict[str, Any]:
    """Silhouette (Euclidean) and Davies–Bouldin index of a labelling of the rows of ``X``.

    :param X: ``(samples, features)`` finite matrix.
    :param labels: ``(samples,)`` cluster label per row.
    :param max_samples: silhouette is O(samples²): above this many rows it uses a seeded subsample of that
        size (``None``: all rows). Davies–Bouldin always uses all rows.
    :returns: ``n_clusters``, ``silhouette`` and ``davies_bouldin`` (``None`` when undefined, with
        ``reason``: both need 2 <= clusters <= samples − 1).
    """
    from sklearn.metrics import davies_bouldin_score, silhouette_score

    X = _matrix(X, "X")
    labels = np.asarray(labels)
    if labels.shape != (X.shape[0],):
        raise ValueError(f"labels must have shape ({X.shape[0]},), got {labels.shape}")
    n_clusters = len(np.unique(labels))
    if not 2 <= n_clusters <= X.shape[0] - 1:
        return {
            "n_clusters": n_clusters,
            "silhouette": None,
            "davies_bouldin": None,
            "reason": f"{n_clusters} cluster(s) for {X.shape[0]} samples; needs 2 <= clusters <= samples - 1",
        }
    sample_size = max_samples if max_samples is not None and X.shape[0] > max_samples else None
    return {
        "n_clusters": n_clusters,
        "silhouette": float(silhouette_score(X, labels, sample_size=sample_size, random_state=seed)),
        "davies_bouldin": float(davies_bouldin_score(X, labels)),
        "reason": None,
    }


def _r2_parts(X: np.ndarray, X_hat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    residual = ((X - X_hat) ** 2).sum(axis=0)
    total = ((X - X.mean(axis=0)) ** 2).sum(axis=0)
    return residual, total


def _pooled_r2(residual: np.ndarray, total: np.ndarray) -> float | None:
    valid = total > 0
    return float(1.0 - residual[valid].sum() / total[valid].sum()) if valid.any() else None


def reconstruction_r2(
    X: Any,
    X_hat: Any,
    category_map: CategoryMap | None = None,
    names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Coefficient of determination of a reconstruction, overall, per column and per category.

    Per column ``R² = 1 − Σ(x − x̂)² / Σ(x − x̄)²``. ``overall`` and each category's value pool the sums
    over their columns (variance-weighted, as scikit-learn's ``"variance_weighted"``); ``mean_column`` is the
    unweighted mean of the per-column values. On standardised features the two agree closely. A constant
    column has no R² (``None``) and is left out of the pooled values.

    :param X: ``(samples, features)`` targets.
    :param X_hat: ``(samples, features)`` reconstructions.
    :param category_map: adds ``per_category`` (category name → pooled R²).
    :param names: column names for ``per_column`` (default: the map's names, else ``"0"``, ``"1"``, …).
    """
    X = _matrix(X, "X")
    X_hat = _matrix(X_hat, "X_hat")
    if X.shape != X_hat.shape:
        raise ValueError(f"X {X.shape} and X_hat {X_hat.shape} differ in shape")
    d = X.shape[1]
    if category_map is not None and len(category_map.names) != d:
        raise ValueError(f"the category map has {len(category_map.names)} columns, X has {d}")
    if names is None:
        names = category_map.names if category_map is not None else tuple(str(j) for j in range(d))
    if len(names) != d:
        raise ValueError(f"got {len(names)} names for {d} columns")
    residual, total = _r2_parts(X, X_hat)
    per_column = [float(1.0 - r / t) if t > 0 else None for r, t in zip(residual, total, strict=True)]
    defined = [v for v in per_column if v is not None]
    result: dict[str, Any] = {
        "overall": _pooled_r2(residual, total),
        "mean_column": float(np.mean(defined)) if defined else None,
        "per_column": dict(zip(names, per_column, strict=True)),
    }
    if category_map is not None:
        result["per_category"] = {
            c.name: _pooled_r2(residual[list(c.indices)], total[list(c.indices)])
            for c in category_map.categories
        }
    return result


def _standardise(X: np.ndarray) -> np.ndarray:
    """Columns with mean 0 and std 1; constant columns become 0."""
    std = X.std(axis=0)
    return (X - X.mean(axis=0)) / np.where(std > 0, std, 1.0) * (std > 0)


def _first_component(Z: np.ndarray) -> tuple[np.ndarray, float]:
    """Loadings (unit norm, largest entry positive) and eigenvalue of the first PC of standardised ``Z``."""
    correlation = Z.T @ Z / Z.shape[0]
    eigenvalues, eigenvectors = np.linalg.eigh(correlation)
    loading = eigenvectors[:, -1]
    if loading[np.argmax(np.abs(loading))] < 0:
        loading = -loading
    return loading, float(max(eigenvalues[-1], 0.0))


def _check_map(X: np.ndarray, category_map: CategoryMap) -> None:
    if len(category_map.names) != X.shape[1]:
        raise ValueError(f"the category map has {len(category_map.names)} columns, X has {X.shape[1]}")


def inter_category(X: Any, category_map: CategoryMap) -> dict[str, Any]:
    """How separate the categories are, from the correlations of their profiles and of their columns.

    The **profile** of a category is, per sample, the mean of its standardised columns after flipping the
    columns that load negatively on the category's first principal component (so anti-correlated members
    reinforce instead of cancelling). For ``K`` categories:

    - ``profile_correlation`` ``(K, K)``: Pearson correlation between the profiles;
    - ``profile_distance`` ``(K, K)``: ``1 − |profile_correlation|``;
    - ``column_abs_correlation`` ``(K, K)``: mean ``|r|`` between the columns of two categories (the
      diagonal: between distinct columns of one category, 1 for a single column) — the quantity the
      clustering separates;
    - ``max_offdiagonal_abs_profile_correlation`` and ``mean_offdiagonal_abs_profile_correlation``
      (``None`` for one category): the orthogonality of the categories in one number each.

    :param X: ``(samples, features)`` finite matrix whose columns the map describes.
    """
    X = _matrix(X, "X")
    _check_map(X, category_map)
    Z = _standardise(X)
    k = category_map.n_categories
    profiles = np.empty((X.shape[0], k))
    for position, category in enumerate(category_map.categories):
        block = Z[:, list(category.indices)]
        loading, _ = _first_component(block)
        signs = np.where(loading < 0, -1.0, 1.0)
        profiles[:, position] = (block * signs).mean(axis=1)
    standard_profiles = _standardise(profiles)
    profile_correlation = np.clip(standard_profiles.T @ standard_profiles / X.shape[0], -1.0, 1.0)
    np.fill_diagonal(profile_correlation, 1.0)

    column_corr = np.abs(Z.T @ Z / X.shape[0])
    blocks = np.empty((k, k))
    for a, ca in enumerate(category_map.categories):
        for b, cb in enumerate(category_map.categories):
            sub = column_corr[np.ix_(list(ca.indices), list(cb.indices))]
            if a == b:
                m = len(ca.indices)
                blocks[a, b] = 1.0 if m == 1 else float((sub.sum() - np.trace(sub)) / (m * (m - 1)))
            else:
                blocks[a, b] = float(sub.mean())
    off = ~np.eye(k, dtype=bool)
    off_values = np.abs(profile_correlation[off])
    return {
        "categories": list(category_map.category_names),
        "profile_correlation": profile_correlation,
        "profile_distance": 1.0 - np.abs(profile_correlation),
        "column_abs_correlation": blocks,
        "max_offdiagonal_abs_profile_correlation": float(off_values.max()) if k > 1 else None,
        "mean_offdiagonal_abs_profile_correlation": float(off_values.mean()) if k > 1 else None,
    }


def top_features(X: Any, category_map: CategoryMap, k: int = 5) -> dict[str, list[tuple[str, float]]]:
    """The ``k`` most representative members of each category.

    A member's score is ``|corr(member, first principal component of the category's standardised
    columns)|`` (``sqrt(λ₁)·|v₁ⱼ|``); members are sorted by score, ties by column order.

    :param X: ``(samples, features)`` finite matrix whose columns the map describes.
    :returns: category name → up to ``k`` ``(column name, score)`` pairs.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    X = _matrix(X, "X")
    _check_map(X, category_map)
    Z = _standardise(X)
    out: dict[str, list[tuple[str, float]]] = {}
    for category in category_map.categories:
        loading, eigenvalue = _first_component(Z[:, list(category.indices)])
        scores = np.sqrt(eigenvalue) * np.abs(loading)
        order = sorted(range(len(scores)), key=lambda j: (-scores[j], j))[:k]
        out[category.name] = [(category.members[j], float(min(scores[j], 1.0))) for j in order]
    return out


def token_centroids(X_original_units: Any, codes: Any, size: int) -> dict[str, Any]:
    """Mean feature vector of the samples assigned to each token, in the units of ``X_original_units``.

    :param X_original_units: ``(samples, features)`` finite matrix, e.g. ``cleaner.inverse_transform(Z)``.
    :param codes: ``(samples,)`` token id per sample, in ``[0, size)``.
    :param size: the number of tokens ``K``.
    :returns: ``codes`` (the used token ids, increasing), ``centroids`` ``(used, features)`` float64, one row
        per used token, ``counts`` ``(K,)`` samples per token, and ``empty`` (token ids with no sample, which
        have no centroid).
    """
    X = _matrix(X_original_units, "X_original_units")
    codes = _codes(codes, size)
    if codes.shape[0] != X.shape[0]:
        raise ValueError(f"{codes.shape[0]} codes for {X.shape[0]} samples")
    counts = np.bincount(codes, minlength=size)
    used = np.flatnonzero(counts > 0)
    sums = np.zeros((size, X.shape[1]))
    np.add.at(sums, codes, X)
    return {
        "codes": used.tolist(),
        "centroids": sums[used] / counts[used, None],
        "counts": counts.astype(np.int64),
        "empty": np.flatnonzero(counts == 0).tolist(),
    }


def cross_family_r2(
    blocks: Mapping[str, Any],
    folds: int = 5,
    seed: int = 0,
    alphas: Sequence[float] = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0),
) -> dict[str, Any]:
    """How well each feature family predicts each other one: cross-validated ridge R².

    For every ordered pair (A, B) of families, a ridge regression on standardised A predicts every column
    of B; the ridge strength is chosen per training fold from ``alphas`` by efficient leave-one-out (one
    strength for all targets). Predictions are collected out of fold over a shuffled, seeded ``folds``-fold
    split, each target column gets ``R² = 1 − Σ(b − b̂)² / Σ(b − b̄)²`` over all samples, and the pair's
    score is the **unweighted mean over B's columns** (constant columns left out). Values near 1 mean B is
    a linear function of A; values at or below 0 mean A carries no linear information about B. The
    matrix is not symmetric.

    :param blocks: family name → ``(samples, features_of_family)`` finite matrix; same ``samples`` for all.
        Per-timestep families must be aggregated or flattened to 2-D first.
    :param folds: number of cross-validation folds (>= 2).
    :param seed: seed of the fold split.
    :param alphas: candidate ridge strengths.
    :returns: ``families`` (order), ``matrix`` ``(F, F)`` with ``matrix[a, b]`` = R² of predicting family
        ``b`` from family ``a`` (NaN on the diagonal), and ``pairs`` ``{"A -> B": R²}``.
    """
    from sklearn.linear_model import RidgeCV
    from sklearn.model_selection import KFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if len(blocks) < 2:
        raise ValueError(f"need at least 2 families, got {len(blocks)}")
    if folds < 2:
        raise ValueError(f"folds must be >= 2, got {folds}")
    families = list(blocks)
    arrays = {name: _matrix(blocks[name], f"blocks[{name!r}]") for name in families}
    n = {a.shape[0] for a in arrays.values()}
    if len(n) != 1:
        raise ValueError(f"families have different numbers of samples: {sorted(n)}")
    n_samples = n.pop()
    if n_samples < folds:
        raise ValueError(f"{n_samples} samples are too few for {folds} folds")

    split = KFold(n_splits=folds, shuffle=True, random_state=seed)
    matrix = np.full((len(families), len(families)), np.nan)
    pairs: dict[str, float | None] = {}
    for a, source in enumerate(families):
        for b, target in enumerate(families):
            if a == b:
                continue
            y = arrays[target]
            model = make_pipeline(StandardScaler(), RidgeCV(alphas=tuple(alphas)))
            predicted = cross_val_predict(model, arrays[source], y, cv=split).reshape(y.shape)
            residual, total = _r2_parts(y, predicted)
            valid = total > 0
            score = float(np.mean(1.0 - residual[valid] / total[valid])) if valid.any() else None
            matrix[a, b] = np.nan if score is None else score
            pairs[f"{source} -> {target}"] = score
    return {"families": families, "matrix": matrix, "pairs": pairs}


def _format_scalar(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        value = float(value)
        if not np.isfinite(value):
            return str(value)
        if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
            return f"{value:.4g}"
        return f"{value:.4f}"
    return str(value)


def _format_sequence(values: Sequence[Any], max_items: int) -> str:
    shown = ", ".join(
        _format_scalar(v) if not isinstance(v, tuple | list) else _inline(v) for v in values[:max_items]
    )
    more = f", … ({len(values)} items)" if len(values) > max_items else ""
    return f"[{shown}{more}]"


def _inline(values: Sequence[Any]) -> str:
    return "(" + ", ".join(_format_scalar(v) for v in values) + ")"


def _summary_lines(value: Any, indent: int, max_items: int) -> list[str]:
    pad = "  " * indent
    lines: list[str] = []
    for key, item in value.items():
        label = f"{pad}{key}:"
        if isinstance(item, Mapping):
            lines.append(label)
            lines.extend(_summary_lines(item, indent + 1, max_items))
        elif isinstance(item, np.ndarray):
            if item.ndim == 2 and item.shape[0] <= max_items and item.shape[1] <= max_items:
                lines.append(f"{label} array {item.shape[0]}×{item.shape[1]}")
                lines.extend(f"{pad}  " + "  ".join(f"{_format_scalar(v):>8}" for v in row) for row in item)
            elif item.ndim <= 1:
                lines.append(f"{label} {_format_sequence(item.reshape(-1).tolist(), max_items)}")
            else:
                lines.append(f"{label} array of shape {item.shape}")
        elif isinstance(item, list | tuple):
            if item and all(isinstance(v, Mapping) for v in item):
                lines.append(f"{label} {len(item)} items")
                for position, entry in enumerate(item[:max_items]):
                    lines.append(f"{pad}  [{position}]")
                    lines.extend(_summary_lines(entry, indent + 2, max_items))
                if len(item) > max_items:
                    lines.append(f"{pad}  … ({len(item) - max_items} more)")
            else:
                lines.append(f"{label} {_format_sequence(list(item), max_items)}")
        else:
            lines.append(f"{label} {_format_scalar(item)}")
    return lines


def summary_text(metrics: Mapping[str, Any], max_items: int = 8) -> str:
    """A plain-text, indented rendering of a (nested) metrics mapping.

    Floats get four decimals (or four significant digits when very large or small), ``None`` reads
    ``n/a``, long lists and vectors show their first ``max_items`` entries and their length, small 2-D
    arrays are printed as tables and larger ones by shape.
    """
    if not isinstance(metrics, Mapping):
        raise ValueError(f"metrics must be a mapping, got {type(metrics).__name__}")
    return "\n".join(_summary_lines(metrics, 0, max_items))
