"""Category discovery: group cleaned feature columns into named categories of mutually correlated features.

Each category becomes one group of the hierarchical VQ-VAE (its own encoder and codebooks), so categories
are groups of *named* columns, discovered on the cleaned features themselves (never on random projections,
BUG-19 of the reference).

Method (:func:`discover_categories`):

1. Correlation between columns, by default **Spearman** (Pearson of the column ranks): it sees monotone but
   non-linear relations (``x`` and ``log x`` belong together) and is insensitive to the remaining heavy tails.
   ``correlation="pearson"`` is available. Rows are subsampled (seeded) to ``max_samples`` first.
2. Dissimilarity ``1 − |r|``: a sign flip is the same information.
3. SciPy hierarchical clustering of that dissimilarity with ``average`` linkage by default. ``1 − |r|`` is
   not a Euclidean distance, so the linkages defined through Euclidean geometry (ward, centroid, median)
   are rejected; average, complete and single only use the pairwise dissimilarities.
4. The number of categories: fixed, or the best silhouette (on the precomputed dissimilarity) of the
   final partitions obtained by cutting the *one* tree at each ``k`` of the search range. Ties go to the
   smaller ``k``.
5. Categories smaller than ``min_size`` are merged, smallest first, into the category with the highest mean
   ``|r|`` to their members.
6. Categories larger than ``max_size`` are split into ``⌈size / max_size⌉`` near-equal runs of their own
   dendrogram's (optimal) leaf order, so each part holds columns the tree placed next to each other. Cutting
   the subtree instead peels off many small groups first: inside a large, uniformly correlated cluster the
   tree is a chain, not a few balanced branches. The split follows the choice of ``k`` (the silhouette
   measures the correlation structure; the cap is a capacity rule) and costs silhouette, since the parts of
   one cluster are as correlated with each other as within themselves.

Why a size cap: every category is described by the same number of tokens (3 levels of ~24 codes, about 14
bits), so a category holding half of all columns is described as coarsely as one holding four. On the
SUMMARY features, the spread-across-realizations columns (``*_std``, ``*_cv``) are all mutually correlated
and form one cluster of ~300 columns, which then held most of the reconstruction error
(docs/vqvae.md, "Reconstruction").

Categories are ordered by their first column, and each is named after its most common family and its
representative member (the member of that family with the highest mean ``|r|`` to the other members),
e.g. ``"summary:energy_mean"``. The whole procedure is deterministic.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, NamedTuple

import attrs
import numpy as np

from spinlock.core.config.validators import one_of
from spinlock.vqvae.cleaning import check_names

__all__ = [
    "TEMPORAL_CATEGORY",
    "Category",
    "CategoryConfig",
    "CategoryMap",
    "column_correlation",
    "discover_categories",
    "discover_temporal_categories",
]

#: name of the one TEMPORAL category when the TEMPORAL columns are not split
TEMPORAL_CATEGORY = "temporal"

_STATE_FORMAT = "spinlock.vqvae.categories/1"
_VALID_LINKAGES = ("average", "complete", "single")
_EUCLIDEAN_LINKAGES = ("ward", "centroid", "median")
_FAMILY_SEPARATORS = ("::", "/")

Linkage = Literal["average", "complete", "single"]


def _check_linkage(_instance: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    if value in _EUCLIDEAN_LINKAGES:
        raise ValueError(
            f"'{attribute.name}' {value!r} is not valid here: {value} linkage assumes Euclidean distances "
            f"between points (it updates cluster centroids or variances), but 1 − |corr| between columns "
            f"is not a Euclidean distance. Use one of {', '.join(map(repr, _VALID_LINKAGES))}."
        )
    one_of(*_VALID_LINKAGES)(_instance, attribute, value)


def _optional_at_least_one(_instance: Any, attribute: attrs.Attribute[Any], value: int | None) -> None:
    if value is not None and (not isinstance(value, int) or value < 1):
        raise ValueError(f"'{attribute.name}' must be an int >= 1 or None (automatic): {value!r}")


def _int_at_least(minimum: int) -> Any:
    def check(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise ValueError(f"'{attribute.name}' must be an int >= {minimum}: {value!r}")

    return check


@attrs.frozen
class CategoryConfig:
    """How :func:`discover_categories` groups columns.

    :param n_categories: a fixed number of categories, or ``None`` to choose it by silhouette.
    :param min_categories: smallest ``k`` of the automatic search.
    :param max_categories: largest ``k`` of the automatic search. The range is clamped to what ``D``
        columns allow: at most ``D − 1`` (silhouette needs it) and at most ``D // min_size``.
    :param min_size: categories with fewer columns are merged into their most correlated neighbour.
    :param max_size: categories with more columns are split into runs of their own dendrogram's leaf
        order (automatic search only: a fixed ``n_categories`` is kept as given); ``None`` turns the cap
        off. At least ``2 · min_size``.
    :param linkage: ``"complete"`` (default: its clusters have a bounded diameter, so one large loosely
        correlated group does not swallow the others as it does with ``"average"`` on SUMMARY), ``"average"``
        or ``"single"``.
    :param method: how ``k`` is chosen; ``"silhouette"``.
    :param correlation: ``"spearman"`` or ``"pearson"``.
    :param max_samples: rows used for the correlation (seeded subsample above it); ``None`` uses all.
        With 50,000 rows a correlation is known to about ±0.005.
    :param seed: seed of the row subsample.
    :param temporal: how the TEMPORAL columns are grouped (:func:`discover_temporal_categories`):
        ``"discover"`` groups them the same way, on their per-sample time means (with the automatic search
        even when ``n_categories`` fixes the static count); ``"single"`` keeps them in one category.
    """

    n_categories: int | None = attrs.field(default=None, validator=_optional_at_least_one)
    min_categories: int = attrs.field(default=8, validator=_int_at_least(2))
    max_categories: int = attrs.field(default=24, validator=_int_at_least(2))
    min_size: int = attrs.field(default=3, validator=_int_at_least(1))
    max_size: int | None = attrs.field(default=40, validator=_optional_at_least_one)
    linkage: Linkage = attrs.field(default="complete", validator=_check_linkage)
    method: Literal["silhouette"] = attrs.field(default="silhouette", validator=one_of("silhouette"))
    correlation: Literal["spearman", "pearson"] = attrs.field(
        default="spearman", validator=one_of("spearman", "pearson")
    )
    max_samples: int | None = attrs.field(default=50_000, validator=_optional_at_least_one)
    seed: int = attrs.field(default=0, validator=_int_at_least(0))
    temporal: Literal["discover", "single"] = attrs.field(
        default="discover", validator=one_of("discover", "single")
    )

    def __attrs_post_init__(self) -> None:
        if self.min_categories > self.max_categories:
            raise ValueError(
                f"'min_categories' ({self.min_categories}) must be <= 'max_categories' ({self.max_categories})"
            )
        if self.max_size is not None and self.max_size < 2 * self.min_size:
            raise ValueError(
                f"'max_size' ({self.max_size}) must be at least 2 × 'min_size' ({self.min_size}), so that a "
                "split category can have two parts"
            )


def _int_tuple(values: Iterable[int]) -> tuple[int, ...]:
    return tuple(int(v) for v in values)


class Category(NamedTuple):
    """One category: its name, its column indices (increasing) and the names of those columns."""

    name: str
    indices: tuple[int, ...]
    members: tuple[str, ...]


def _family_and_stem(name: str, family: str | None) -> tuple[str, str]:
    """Split a column name into (family, name within the family)."""
    if family is not None:
        for separator in _FAMILY_SEPARATORS:
            if family and name.startswith(family + separator):
                return family, name[len(family) + len(separator) :]
        return family, name
    for separator in _FAMILY_SEPARATORS:
        head, found, tail = name.partition(separator)
        if found and head and tail:
            return head, tail
    return "", name


@attrs.frozen
class CategoryMap:
    """A partition of the cleaned columns ``(features,)`` into ordered, named categories.

    :param names: all column names, in column order.
    :param categories: the categories, ordered by their first column; together they hold every column once.
    :param families: family of each column (``""`` when unknown).
    :param correlation: how it was made: ``"spearman"``, ``"pearson"`` or ``"given"`` (:meth:`from_mapping`).
    :param linkage: the linkage used, or ``"given"``.
    :param silhouette: silhouette of the final partition on ``1 − |r|``; ``None`` when undefined (a single
        category, or every category a singleton) or not computed.
    :param scores: the automatic search: ``(k, categories after merging, silhouette or None)`` per ``k``.
    :param clusters: the correlation cluster of each category: categories split by ``max_size`` share
        one; clusters are numbered in category order. Empty means every category is its own cluster.
    """

    names: tuple[str, ...]
    categories: tuple[Category, ...]
    families: tuple[str, ...]
    correlation: str = "given"
    linkage: str = "given"
    silhouette: float | None = None
    scores: tuple[tuple[int, int, float | None], ...] = ()
    clusters: tuple[int, ...] = attrs.field(default=(), converter=_int_tuple)

    def __attrs_post_init__(self) -> None:
        d = len(self.names)
        if len(self.families) != d:
            raise ValueError(f"{len(self.families)} families for {d} columns")
        seen: list[int] = []
        category_names = [c.name for c in self.categories]
        if len(set(category_names)) != len(category_names):
            raise ValueError(f"duplicate category names: {category_names}")
        for category in self.categories:
            if not category.indices:
                raise ValueError(f"category {category.name!r} is empty")
            if list(category.indices) != sorted(set(category.indices)):
                raise ValueError(f"category {category.name!r}: indices must be increasing and distinct")
            if tuple(self.names[i] for i in category.indices) != tuple(category.members):
                raise ValueError(f"category {category.name!r}: members do not match the column names")
            seen.extend(category.indices)
        if sorted(seen) != list(range(d)):
            raise ValueError(f"categories must hold each of the {d} columns exactly once")
        if self.clusters and len(self.clusters) != len(self.categories):
            raise ValueError(f"{len(self.clusters)} clusters for {len(self.categories)} categories")

    @property
    def category_clusters(self) -> tuple[int, ...]:
        """The correlation cluster of each category (``clusters``, or one cluster per category)."""
        return self.clusters or tuple(range(len(self.categories)))

    @property
    def n_categories(self) -> int:
        """Number of categories."""
        return len(self.categories)

    @property
    def category_names(self) -> tuple[str, ...]:
        """Category names, in category order."""
        return tuple(c.name for c in self.categories)

    def labels(self) -> np.ndarray:
        """Category position of each column, int64 ``(features,)``."""
        out = np.empty(len(self.names), dtype=np.int64)
        for position, category in enumerate(self.categories):
            out[list(category.indices)] = position
        return out

    def get(self, name: str) -> Category:
        """The category called ``name``."""
        for category in self.categories:
            if category.name == name:
                return category
        raise KeyError(f"no category {name!r}; categories: {list(self.category_names)}")

    def describe(self) -> list[dict[str, Any]]:
        """One JSON-compatible dict per category: name, size, indices, members, family counts."""
        return [
            {
                "name": c.name,
                "size": len(c.indices),
                "indices": list(c.indices),
                "members": list(c.members),
                "families": dict(Counter(self.families[i] for i in c.indices)),
                "cluster": cluster,
            }
            for c, cluster in zip(self.categories, self.category_clusters, strict=True)
        ]

    def to_state(self) -> dict[str, Any]:
        """A dict of plain Python values, JSON-serialisable and loadable with ``weights_only=True``."""
        return {
            "format": _STATE_FORMAT,
            "names": list(self.names),
            "families": list(self.families),
            "categories": [{"name": c.name, "indices": [int(i) for i in c.indices]} for c in self.categories],
            "correlation": self.correlation,
            "linkage": self.linkage,
            "silhouette": self.silhouette,
            "scores": [[int(k), int(m), s] for k, m, s in self.scores],
            "clusters": [int(c) for c in self.clusters],
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> CategoryMap:
        """Rebuild a map from :meth:`to_state` output."""
        if state.get("format") != _STATE_FORMAT:
            raise ValueError(
                f"not a category-map state: format {state.get('format')!r}, expected {_STATE_FORMAT!r}"
            )
        names = tuple(str(n) for n in state["names"])
        categories = tuple(
            Category(
                str(c["name"]),
                tuple(int(i) for i in c["indices"]),
                tuple(names[int(i)] for i in c["indices"]),
            )
            for c in state["categories"]
        )
        silhouette = state.get("silhouette")
        return cls(
            names=names,
            categories=categories,
            families=tuple(str(f) for f in state["families"]),
            correlation=str(state.get("correlation", "given")),
            linkage=str(state.get("linkage", "given")),
            silhouette=None if silhouette is None else float(silhouette),
            scores=tuple(
                (int(k), int(m), None if s is None else float(s)) for k, m, s in state.get("scores", [])
            ),
            clusters=tuple(int(c) for c in state.get("clusters", [])),
        )

    @classmethod
    def from_mapping(
        cls,
        names: Sequence[str],
        mapping: Mapping[str, Sequence[str | int]],
        families: Sequence[str] | None = None,
    ) -> CategoryMap:
        """A user-given partition: ``{category: [column names or indices]}``, every column exactly once.

        Categories are kept in the mapping's order; members are sorted into column order.
        """
        names = check_names(names, len(names))
        position = {name: i for i, name in enumerate(names)}
        categories = []
        for category, members in mapping.items():
            indices = []
            for member in members:
                if isinstance(member, str):
                    if member not in position:
                        raise ValueError(f"category {category!r}: unknown column {member!r}")
                    indices.append(position[member])
                else:
                    indices.append(int(member))
            if any(not 0 <= i < len(names) for i in indices):
                raise ValueError(f"category {category!r}: column index out of range [0, {len(names)})")
            ordered = tuple(sorted(set(indices)))
            if len(ordered) != len(indices):
                raise ValueError(f"category {category!r} lists a column twice")
            categories.append(Category(str(category), ordered, tuple(names[i] for i in ordered)))
        return cls(names=names, categories=tuple(categories), families=_families(names, families))


def _families(names: Sequence[str], families: Sequence[str] | None) -> tuple[str, ...]:
    if families is not None and len(families) != len(names):
        raise ValueError(f"got {len(families)} families for {len(names)} columns")
    return tuple(
        _family_and_stem(name, None if families is None else families[i])[0] for i, name in enumerate(names)
    )


def column_correlation(
    X: Any,
    method: Literal["spearman", "pearson"] = "spearman",
    max_samples: int | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Correlation matrix ``(features, features)`` between the columns of ``X`` ``(samples, features)``.

    :raises ValueError: for non-finite values or a constant column (its correlation is undefined).
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (samples, features), got shape {X.shape}")
    if X.shape[0] < 2:
        raise ValueError(f"need at least 2 samples, got {X.shape[0]}")
    if not np.all(np.isfinite(X)):
        raise ValueError("X contains NaN or inf; clean the features first (spinlock.vqvae.cleaning)")
    if max_samples is not None and X.shape[0] > max_samples:
        rows = np.sort(np.random.default_rng(seed).choice(X.shape[0], size=max_samples, replace=False))
        X = X[rows]
    if method == "spearman":
        from scipy.stats import rankdata

        X = rankdata(X, axis=0)
    centred = X - X.mean(axis=0)
    norm = np.sqrt((centred**2).sum(axis=0))
    constant = np.flatnonzero(norm <= 1e-12 * max(float(np.abs(X).max()), 1e-300))
    if len(constant):
        raise ValueError(
            f"columns {constant.tolist()} are constant (in the rows used); their correlation is undefined. "
            "Clean the features first (spinlock.vqvae.cleaning drops constant columns)."
        )
    unit = centred / norm
    correlation = np.clip(unit.T @ unit, -1.0, 1.0)
    np.fill_diagonal(correlation, 1.0)
    return correlation


def _canonical(groups: Sequence[Sequence[int]]) -> list[list[int]]:
    """Groups with sorted members, ordered by their first column."""
    return sorted((sorted(g) for g in groups if len(g)), key=lambda g: g[0])


def _merge_small(groups: list[list[int]], abs_corr: np.ndarray, min_size: int) -> list[list[int]]:
    """Merge groups below ``min_size`` (smallest first, then first column) into the most correlated group."""
    groups = _canonical(groups)
    while len(groups) > 1:
        small = [i for i, g in enumerate(groups) if len(g) < min_size]
        if not small:
            break
        source = min(small, key=lambda i: (len(groups[i]), groups[i][0]))
        affinity = [
            -np.inf if i == source else float(abs_corr[np.ix_(groups[source], g)].mean())
            for i, g in enumerate(groups)
        ]
        target = int(np.argmax(affinity))
        groups[target] = groups[target] + groups[source]
        del groups[source]
        groups = _canonical(groups)
    return groups


def _split_large(groups: list[list[int]], distance: np.ndarray, config: CategoryConfig) -> list[list[int]]:
    """Split each group above ``config.max_size`` into ``⌈size / max_size⌉`` runs of near-equal length of
    its dendrogram leaf order (its own linkage, optimally ordered), so each part is a run of neighbouring
    leaves: columns the tree placed together stay together."""
    max_size = config.max_size
    if max_size is None or all(len(g) <= max_size for g in groups):
        return groups
    from scipy.cluster.hierarchy import leaves_list, linkage, optimal_leaf_ordering
    from scipy.spatial.distance import squareform

    out: list[list[int]] = []
    for group in groups:
        if len(group) <= max_size:
            out.append(group)
            continue
        condensed = squareform(distance[np.ix_(group, group)], checks=False)
        tree = optimal_leaf_ordering(linkage(condensed, method=config.linkage), condensed)
        order = leaves_list(tree)
        parts = -(-len(group) // max_size)
        out.extend([group[i] for i in run] for run in np.array_split(order, parts))
    return _canonical(out)


def _silhouette(distance: np.ndarray, groups: Sequence[Sequence[int]]) -> float | None:
    d = distance.shape[0]
    if not 2 <= len(groups) <= d - 1:
        return None
    from sklearn.metrics import silhouette_score

    labels = np.empty(d, dtype=np.int64)
    for position, group in enumerate(groups):
        labels[list(group)] = position
    return float(silhouette_score(distance, labels, metric="precomputed"))


def _cut(tree: np.ndarray, k: int) -> list[list[int]]:
    from scipy.cluster.hierarchy import fcluster

    labels = fcluster(tree, t=k, criterion="maxclust")
    return [np.flatnonzero(labels == label).tolist() for label in np.unique(labels)]


def _search_range(config: CategoryConfig, d: int) -> range:
    upper = min(config.max_categories, d - 1, max(d // config.min_size, 1))
    lower = max(2, min(config.min_categories, upper))
    return range(lower, upper + 1)


def _name_categories(
    groups: Sequence[Sequence[int]], names: Sequence[str], families: Sequence[str], abs_corr: np.ndarray
) -> list[str]:
    labels = []
    for group in groups:
        family = Counter(families[i] for i in group).most_common(1)[0][0]
        candidates = [i for i in group if families[i] == family]
        block = abs_corr[np.ix_(candidates, list(group))]
        cohesion = (block.sum(axis=1) - 1.0) / max(len(group) - 1, 1)
        representative = candidates[int(np.argmax(cohesion))]
        stem = _family_and_stem(names[representative], families[representative])[1]
        labels.append(f"{family}:{stem}" if family else stem)
    seen: Counter[str] = Counter()
    unique = []
    for label in labels:
        seen[label] += 1
        unique.append(label if seen[label] == 1 else f"{label}#{seen[label]}")
    return unique


def discover_categories(
    X_clean: Any,
    names: Sequence[str],
    config: CategoryConfig | None = None,
    families: Sequence[str] | None = None,
) -> CategoryMap:
    """Group the columns of a cleaned feature matrix into named categories (see the module docstring).

    :param X_clean: ``(samples, features)`` finite matrix, typically ``Cleaner.transform(X)``.
    :param names: one distinct name per column (``Cleaner.kept_names``).
    :param config: discovery settings (defaults when ``None``).
    :param families: the feature family of each column; when ``None`` a ``family::`` or ``family/`` prefix
        of the column name is used, if any.
    :returns: the :class:`CategoryMap`; its indices refer to the columns of ``X_clean``.
    :raises ValueError: for a non-2-D or non-finite matrix, mismatched names, a constant column, or a fixed
        ``n_categories`` larger than the number of columns.
    """
    config = config or CategoryConfig()
    X = np.asarray(X_clean, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"X_clean must be 2-D (samples, features), got shape {X.shape}")
    d = X.shape[1]
    if d < 1:
        raise ValueError("X_clean has no columns")
    names = check_names(names, d)
    column_families = _families(names, families)
    if config.n_categories is not None and config.n_categories > d:
        raise ValueError(f"n_categories={config.n_categories} exceeds the number of columns ({d})")

    correlation = column_correlation(X, config.correlation, config.max_samples, config.seed)
    abs_corr = np.abs(correlation)
    distance = np.clip(1.0 - abs_corr, 0.0, None)
    distance = (distance + distance.T) / 2.0
    np.fill_diagonal(distance, 0.0)

    scores: list[tuple[int, int, float | None]] = []
    if d == 1 or config.n_categories == 1:
        groups: list[list[int]] = [list(range(d))]
    else:
        from scipy.cluster.hierarchy import linkage
        from scipy.spatial.distance import squareform

        tree = linkage(squareform(distance, checks=False), method=config.linkage)
        if config.n_categories is not None:
            groups = _merge_small(_cut(tree, config.n_categories), abs_corr, config.min_size)
        else:
            best: tuple[float, list[list[int]]] | None = None
            for k in _search_range(config, d):
                candidate = _merge_small(_cut(tree, k), abs_corr, config.min_size)
                score = _silhouette(distance, candidate)
                scores.append((k, len(candidate), score))
                if score is not None and (best is None or score > best[0]):
                    best = (score, candidate)
            groups = best[1] if best is not None else [list(range(d))]

    groups = _canonical(groups)
    clusters: tuple[int, ...] = ()
    if config.n_categories is None and config.max_size is not None:
        cluster_of_column = np.empty(d, dtype=np.int64)
        for position, group in enumerate(groups):
            cluster_of_column[group] = position
        groups = _split_large(groups, distance, config)
        first_seen: dict[int, int] = {}
        clusters = tuple(first_seen.setdefault(int(cluster_of_column[g[0]]), len(first_seen)) for g in groups)
    labels = _name_categories(groups, names, column_families, abs_corr)
    categories = tuple(
        Category(label, tuple(group), tuple(names[i] for i in group))
        for label, group in zip(labels, groups, strict=True)
    )
    return CategoryMap(
        names=names,
        categories=categories,
        families=column_families,
        correlation=config.correlation,
        linkage=config.linkage,
        silhouette=_silhouette(distance, groups),
        scores=tuple(scores),
        clusters=clusters,
    )


def discover_temporal_categories(
    scaled: Any, names: Sequence[str], config: CategoryConfig | None = None
) -> CategoryMap:
    """Group the TEMPORAL columns into categories, each of which gets its own sequence encoder and tokens.

    The columns are grouped by :func:`discover_categories` on their per-sample time means (the level of each
    feature; the correlation of whole series would mostly measure the shared course over time), with the
    automatic search for the number of categories. Columns whose time mean does not vary have no correlation;
    they join the smallest category. With ``config.temporal == "single"``, fewer than two varying columns, or
    no partition that the search accepts, all columns form one category named :data:`TEMPORAL_CATEGORY`.

    :param scaled: ``(samples, time, features)`` finite TEMPORAL values (``TemporalScaler.transform``).
    :param names: one distinct name per column.
    :returns: a :class:`CategoryMap` over the TEMPORAL columns; every column's family is ``"temporal"``, so
        categories are named ``temporal:<representative column>``.
    """
    config = config or CategoryConfig()
    values = np.asarray(scaled, dtype=np.float64)
    if values.ndim != 3:
        raise ValueError(f"TEMPORAL values must be 3-D (samples, time, features), got shape {values.shape}")
    d = values.shape[2]
    names = check_names(names, d)
    families = (TEMPORAL_CATEGORY,) * d
    single = CategoryMap(
        names=names,
        categories=(Category(TEMPORAL_CATEGORY, tuple(range(d)), names),),
        families=families,
    )
    if config.temporal == "single" or d < 2 or values.shape[0] < 2:
        return single
    means = values.mean(axis=1)
    spread = means.std(axis=0)
    varying = np.flatnonzero(spread > 1e-9 * (1.0 + np.abs(means).max(axis=0)))
    if len(varying) < 2:
        return single
    found = discover_categories(
        means[:, varying],
        [names[i] for i in varying],
        attrs.evolve(config, n_categories=None),
        families=families[: len(varying)],
    )
    if found.n_categories == 1:
        return single
    groups = [[int(varying[i]) for i in category.indices] for category in found.categories]
    constant = sorted(set(range(d)) - set(varying.tolist()))
    if constant:
        smallest = min(range(len(groups)), key=lambda position: (len(groups[position]), position))
        groups[smallest] = sorted(groups[smallest] + constant)
    order = sorted(range(len(groups)), key=lambda position: groups[position][0])  # by first column again
    first_seen: dict[int, int] = {}
    clusters = tuple(first_seen.setdefault(found.category_clusters[p], len(first_seen)) for p in order)
    return CategoryMap(
        names=names,
        categories=tuple(
            Category(found.categories[p].name, tuple(groups[p]), tuple(names[i] for i in groups[p]))
            for p in order
        ),
        families=families,
        correlation=found.correlation,
        linkage=found.linkage,
        silhouette=found.silhouette,
        scores=found.scores,
        clusters=clusters if found.clusters else (),
    )
