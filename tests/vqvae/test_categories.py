"""Category discovery: planted groups, merging, naming, state, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from spinlock.vqvae.categories import (
    TEMPORAL_CATEGORY,
    CategoryConfig,
    CategoryMap,
    discover_categories,
    discover_temporal_categories,
)


def planted(
    n_groups: int = 4, size: int = 6, n: int = 400, seed: int = 0
) -> tuple[np.ndarray, list[str], np.ndarray]:
    """``n_groups`` groups of ``size`` columns, each a noisy (sign-flipped, monotone) copy of one factor.

    Columns are shuffled, so the groups are not contiguous. Returns X, names and the true group per column.
    """
    rng = np.random.default_rng(seed)
    factors = rng.normal(size=(n, n_groups))
    columns, truth = [], []
    for g in range(n_groups):
        for j in range(size):
            signal = factors[:, g] * rng.uniform(0.5, 2.0) * (-1) ** j
            if j == 1:
                signal = np.exp(signal / 2)  # monotone, non-linear: Spearman keeps it in the group
            columns.append(signal + 0.3 * rng.normal(size=n))
            truth.append(g)
    order = rng.permutation(len(columns))
    X = np.stack(columns, axis=1)[:, order]
    truth_array = np.asarray(truth)[order]
    names = [
        f"{'summary' if g % 2 else 'temporal'}::g{g}_c{i}" for i, g in zip(order, truth_array, strict=True)
    ]
    return X, names, truth_array


def test_fixed_number_recovers_planted_groups():
    X, names, truth = planted()
    result = discover_categories(X, names, CategoryConfig(n_categories=4))
    assert result.n_categories == 4
    assert adjusted_rand_score(truth, result.labels()) == 1.0
    assert result.scores == ()
    assert result.silhouette is not None and result.silhouette > 0.5


@pytest.mark.parametrize("correlation", ["spearman", "pearson"])
def test_automatic_number_recovers_planted_groups(correlation):
    X, names, truth = planted()
    config = CategoryConfig(min_categories=2, max_categories=10, correlation=correlation)
    result = discover_categories(X, names, config)
    assert result.n_categories == 4
    assert adjusted_rand_score(truth, result.labels()) == 1.0
    # one tree cut at every k of the clamped range: 2..min(10, 24 - 1, 24 // 3 = 8)
    assert [k for k, _, _ in result.scores] == list(range(2, 9))
    best = max(s for _, _, s in result.scores if s is not None)
    assert result.silhouette == pytest.approx(best)


def test_default_search_range_is_clamped_to_the_columns():
    X, names, _ = planted(n_groups=2, size=6)  # D = 12: k <= 12 // 3 = 4, below min_categories = 8
    result = discover_categories(X, names)
    assert [k for k, _, _ in result.scores] == [4]


def test_discovery_is_deterministic_and_ordered():
    X, names, _ = planted()
    config = CategoryConfig(min_categories=2, max_categories=10)
    first = discover_categories(X, names, config)
    assert first == discover_categories(X, names, config)
    firsts = [c.indices[0] for c in first.categories]
    assert firsts == sorted(firsts)
    for category in first.categories:
        assert list(category.indices) == sorted(category.indices)
        assert category.members == tuple(names[i] for i in category.indices)


def test_small_clusters_are_merged_into_the_most_correlated_one():
    rng = np.random.default_rng(1)
    n = 500
    f = rng.normal(size=(n, 3))
    near_f0 = 0.7 * f[:, 0] + 0.7 * rng.normal(size=n)  # related to group 0 only
    columns = [f[:, g] + 0.3 * rng.normal(size=n) for g in range(3) for _ in range(5)]
    columns += [near_f0 + 0.1 * rng.normal(size=n) for _ in range(2)]
    X = np.stack(columns, axis=1)
    names = [f"c{j}" for j in range(17)]

    merged = discover_categories(X, names, CategoryConfig(n_categories=4, min_size=3))
    assert merged.n_categories == 3
    assert merged.categories[0].indices == (0, 1, 2, 3, 4, 15, 16)

    kept = discover_categories(X, names, CategoryConfig(n_categories=4, min_size=2))
    assert kept.n_categories == 4
    assert kept.categories[-1].indices == (15, 16)


def nested(seed: int = 0, n: int = 600) -> tuple[np.ndarray, list[str], np.ndarray]:
    """A 30-column cluster of three 10-column sub-groups (one shared factor plus a sub-factor each), and two
    independent 5-column groups. Returns X, names and the finest true group (0–2 inside the big cluster)."""
    rng = np.random.default_rng(seed)
    shared = rng.normal(size=n)
    columns, truth = [], []
    for sub in range(3):
        own = rng.normal(size=n)
        columns += [shared + 0.3 * own + 0.5 * rng.normal(size=n) for _ in range(10)]
        truth += [sub] * 10
    for group in (3, 4):
        factor = rng.normal(size=n)
        columns += [factor + 0.3 * rng.normal(size=n) for _ in range(5)]
        truth += [group] * 5
    order = rng.permutation(len(columns))
    X = np.stack(columns, axis=1)[:, order]
    return X, [f"c{j}" for j in order], np.asarray(truth)[order]


def test_large_categories_are_split_along_their_leaf_order():
    X, names, truth = nested()
    search = {"min_categories": 2, "max_categories": 6}
    whole = discover_categories(X, names, CategoryConfig(max_size=None, **search))
    big = truth <= 2
    assert whole.n_categories == 3
    assert adjusted_rand_score(np.where(big, 0, truth), whole.labels()) == 1.0

    capped = discover_categories(X, names, CategoryConfig(max_size=10, **search))
    assert capped.n_categories == 5
    assert max(len(c.indices) for c in capped.categories) <= 10
    # the three parts of the split are the planted sub-groups, and the small groups are untouched
    assert adjusted_rand_score(truth, capped.labels()) == 1.0
    assert capped.scores == whole.scores  # the cap follows the choice of k
    assert capped.silhouette is not None and capped.silhouette < whole.silhouette  # type: ignore[operator]
    assert capped == discover_categories(X, names, CategoryConfig(max_size=10, **search))
    # the parts remember their cluster, in the state too; a state without clusters still loads
    parts = [capped.category_clusters[p] for p in capped.labels()[big]]
    assert len(set(parts)) == 1 and sorted(capped.category_clusters).count(parts[0]) == 3
    assert [d["cluster"] for d in capped.describe()] == list(capped.category_clusters)
    state = json.loads(json.dumps(capped.to_state()))
    assert CategoryMap.from_state(state) == capped
    del state["clusters"]
    assert CategoryMap.from_state(state).category_clusters == tuple(range(5))

    # ⌈30 / 12⌉ = 3 near-equal parts
    sizes = sorted(
        len(c.indices)
        for c in discover_categories(X, names, CategoryConfig(max_size=12, **search)).categories
    )
    assert sizes == [5, 5, 10, 10, 10]


def test_a_fixed_number_of_categories_is_not_split():
    X, names, truth = nested()
    fixed = discover_categories(X, names, CategoryConfig(n_categories=3, max_size=10))
    assert fixed.n_categories == 3
    assert adjusted_rand_score(np.where(truth <= 2, 0, truth), fixed.labels()) == 1.0


def test_names_come_from_family_and_representative_member():
    X, names, truth = planted()
    result = discover_categories(X, names, CategoryConfig(n_categories=4))
    assert len(set(result.category_names)) == 4
    for category in result.categories:
        family, _, stem = category.name.partition(":")
        assert f"{family}::{stem}" in category.members
        group = truth[category.indices[0]]
        assert family == ("summary" if group % 2 else "temporal")
    assert result.families[0] in {"summary", "temporal"}

    plain = [name.partition("::")[2] for name in names]
    explicit = discover_categories(X, plain, CategoryConfig(n_categories=4), families=["f"] * len(names))
    assert all(c.name.startswith("f:") for c in explicit.categories)
    bare = discover_categories(X, plain, CategoryConfig(n_categories=4))
    assert all(c.name in c.members for c in bare.categories)


def test_state_round_trip_and_describe():
    X, names, _ = planted()
    result = discover_categories(X, names, CategoryConfig(min_categories=2, max_categories=6))
    state = json.loads(json.dumps(result.to_state()))
    assert CategoryMap.from_state(state) == result
    description = json.loads(json.dumps(result.describe()))
    assert [d["name"] for d in description] == list(result.category_names)
    assert sum(d["size"] for d in description) == len(names)
    assert sum(sum(d["families"].values()) for d in description) == len(names)


def test_from_mapping():
    names = ["a", "b", "c", "d"]
    mapping = CategoryMap.from_mapping(names, {"x": ["c", "a"], "y": [1, 3]})
    assert mapping.categories[0] == ("x", (0, 2), ("a", "c"))
    assert mapping.labels().tolist() == [0, 1, 0, 1]
    assert mapping.get("y").members == ("b", "d")
    with pytest.raises(ValueError, match="exactly once"):
        CategoryMap.from_mapping(names, {"x": ["a", "b"], "y": ["b", "c", "d"]})
    with pytest.raises(ValueError, match="unknown column 'e'"):
        CategoryMap.from_mapping(names, {"x": ["e"]})


def test_single_column_and_fixed_single_category():
    rng = np.random.default_rng(0)
    one = discover_categories(rng.normal(size=(50, 1)), ["x"])
    assert one.n_categories == 1 and one.silhouette is None
    X, names, _ = planted()
    single = discover_categories(X, names, CategoryConfig(n_categories=1))
    assert single.n_categories == 1


@pytest.mark.parametrize("linkage", ["ward", "centroid", "median"])
def test_euclidean_linkages_are_rejected(linkage):
    with pytest.raises(ValueError, match="not a Euclidean distance"):
        CategoryConfig(linkage=linkage)


def test_config_validation():
    with pytest.raises(ValueError, match="did you mean 'average'"):
        CategoryConfig(linkage="averag")
    with pytest.raises(ValueError, match="min_categories"):
        CategoryConfig(min_categories=10, max_categories=5)
    with pytest.raises(ValueError, match="n_categories"):
        CategoryConfig(n_categories=0)
    with pytest.raises(ValueError, match="min_size"):
        CategoryConfig(min_size=0)
    with pytest.raises(ValueError, match=r"'max_size' \(5\) must be at least 2 × 'min_size' \(3\)"):
        CategoryConfig(max_size=5)
    with pytest.raises(ValueError, match="max_size"):
        CategoryConfig(max_size=0)


def test_bad_inputs():
    X, names, _ = planted()
    with pytest.raises(ValueError, match="NaN"):
        discover_categories(np.where(X > 2, np.nan, X), names)
    constant = X.copy()
    constant[:, 3] = 1.0
    with pytest.raises(ValueError, match=r"columns \[3\] are constant"):
        discover_categories(constant, names)
    with pytest.raises(ValueError, match="exceeds the number of columns"):
        discover_categories(X, names, CategoryConfig(n_categories=30))
    with pytest.raises(ValueError, match="names"):
        discover_categories(X, names[:-1])
    with pytest.raises(ValueError, match="2-D"):
        discover_categories(X[:, 0], names[:1])


# -- TEMPORAL categories -------------------------------------------------------------------------------------


def planted_series(steps: int = 5, seed: int = 0) -> tuple[np.ndarray, list[str], np.ndarray]:
    """``(samples, steps, features)`` whose time means follow :func:`planted`'s groups, each column with its
    own course over time, and plain column names (as the TEMPORAL family has)."""
    X, _, truth = planted(seed=seed)
    rng = np.random.default_rng(seed + 1)
    course = 1.0 + 0.5 * np.sin(np.linspace(0, 3, steps)[None, :, None] + rng.uniform(0, 6, X.shape[1]))
    series = X[:, None, :] * course + 0.1 * rng.normal(size=(X.shape[0], steps, X.shape[1]))
    return series, [f"feature_{i}" for i in range(X.shape[1])], truth


def test_temporal_categories_recover_groups_planted_in_the_time_means():
    series, names, truth = planted_series()
    # a fixed static count does not apply to TEMPORAL: its number is searched
    config = CategoryConfig(n_categories=9, min_categories=2, max_categories=10)
    result = discover_temporal_categories(series, names, config)
    assert result.n_categories == 4
    assert adjusted_rand_score(truth, result.labels()) == 1.0
    assert all(name.startswith("temporal:feature_") for name in result.category_names)
    assert set(result.families) == {"temporal"}
    assert discover_temporal_categories(series, names, config) == result  # deterministic
    assert CategoryMap.from_state(json.loads(json.dumps(result.to_state()))) == result


def test_columns_with_a_constant_time_mean_join_the_smallest_category():
    series, names, truth = planted_series()
    keep = np.flatnonzero(truth != 3)[:-2]  # groups of 6, 6 and 4 columns
    constant = np.zeros((series.shape[0], series.shape[1], 1))
    constant[:, 1] = 1.0  # varies over time, but its time mean is the same for every sample
    values = np.concatenate([series[:, :, keep], constant], axis=2)
    result = discover_temporal_categories(
        values, [*[names[i] for i in keep], "flat"], CategoryConfig(min_categories=2)
    )
    assert result.n_categories == 3
    sizes = sorted(len(category.indices) for category in result.categories)
    assert sizes == [5, 6, 6]
    smallest = min(result.categories, key=lambda category: len(category.indices))
    assert "flat" in smallest.members
    firsts = [category.indices[0] for category in result.categories]
    assert firsts == sorted(firsts)


@pytest.mark.parametrize(
    ("config", "columns"),
    [(CategoryConfig(temporal="single"), 24), (CategoryConfig(), 1), (CategoryConfig(), 2)],
)
def test_one_temporal_category_when_asked_or_when_too_few_columns(config, columns):
    series, names, _ = planted_series()
    result = discover_temporal_categories(series[:, :, :columns], names[:columns], config)
    assert result.category_names == (TEMPORAL_CATEGORY,)
    assert result.categories[0].indices == tuple(range(columns))


def test_temporal_categories_bad_input():
    with pytest.raises(ValueError, match="must be 3-D"):
        discover_temporal_categories(np.zeros((4, 3)), ["a", "b", "c"])
    with pytest.raises(ValueError, match="temporal"):
        CategoryConfig(temporal="split")
