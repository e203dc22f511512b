"""Metrics against hand computations and scikit-learn."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import davies_bouldin_score, silhouette_score

from spinlock.vqvae.categories import CategoryMap
from spinlock.vqvae.metrics import (
    cluster_quality,
    codebook_usage,
    cross_family_r2,
    inter_category,
    reconstruction_r2,
    summary_text,
    token_centroids,
    top_features,
)


def test_perplexity_of_uniform_one_hot_and_half_used_codebooks():
    uniform = codebook_usage(np.tile(np.arange(16), 5), 16)
    assert uniform["perplexity"] == pytest.approx(16.0)
    assert uniform["utilisation"] == 1.0 and uniform["dead_codes"] == []

    one_hot = codebook_usage(np.full(100, 3), 16)
    assert one_hot["perplexity"] == pytest.approx(1.0)
    assert one_hot["used"] == 1 and one_hot["utilisation"] == 1 / 16
    assert one_hot["dead_codes"] == [c for c in range(16) if c != 3]

    half = codebook_usage([0, 0, 1, 1], 4)
    assert half["perplexity"] == pytest.approx(2.0)
    assert half["normalised_perplexity"] == pytest.approx(0.5)
    assert half["counts"].tolist() == [2, 2, 0, 0] and half["dead_codes"] == [2, 3]

    # 3/4 of the mass on one code: exp(H) with H = -(0.75 ln 0.75 + 0.25 ln 0.25)
    skewed = codebook_usage([0, 0, 0, 1], 2)
    assert skewed["perplexity"] == pytest.approx(np.exp(-(0.75 * np.log(0.75) + 0.25 * np.log(0.25))))


def test_codebook_usage_rejects_bad_codes():
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        codebook_usage([0, 4], 4)
    with pytest.raises(ValueError, match="1-D"):
        codebook_usage(np.zeros((2, 2), dtype=int), 4)
    with pytest.raises(ValueError, match="integers"):
        codebook_usage([0.5], 4)
    with pytest.raises(ValueError, match="size"):
        codebook_usage([0], 0)


def test_cluster_quality_matches_sklearn_and_handles_one_cluster():
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(0, 1, (40, 3)), rng.normal(4, 1, (40, 3)), rng.normal(-4, 1, (40, 3))])
    labels = np.repeat([0, 1, 2], 40)
    quality = cluster_quality(X, labels)
    assert quality["n_clusters"] == 3 and quality["reason"] is None
    assert quality["silhouette"] == pytest.approx(silhouette_score(X, labels))
    assert quality["davies_bouldin"] == pytest.approx(davies_bouldin_score(X, labels))

    single = cluster_quality(X, np.zeros(120, dtype=int))
    assert single["silhouette"] is None and single["davies_bouldin"] is None
    assert "1 cluster" in single["reason"]

    sampled = cluster_quality(X, labels, max_samples=60, seed=1)
    assert sampled["silhouette"] == pytest.approx(silhouette_score(X, labels, sample_size=60, random_state=1))


def test_reconstruction_r2_by_hand():
    X = np.array([[1.0, 0.0, 5.0], [2.0, 2.0, 5.0], [3.0, 4.0, 5.0]])
    X_hat = np.array([[1.0, 1.0, 5.0], [2.0, 1.0, 5.0], [3.0, 1.0, 5.0]])
    groups = CategoryMap.from_mapping(["a", "b", "c"], {"ab": ["a", "b"], "c": ["c"]})
    r2 = reconstruction_r2(X, X_hat, groups)
    # column b: SS_res = 1 + 1 + 9 = 11, SS_tot = 4 + 0 + 4 = 8; column c is constant
    assert r2["per_column"] == {"a": 1.0, "b": pytest.approx(1 - 11 / 8), "c": None}
    # pooled over a and b: 1 - (0 + 11) / (2 + 8)
    assert r2["overall"] == pytest.approx(1 - 11 / 10)
    assert r2["per_category"] == {"ab": pytest.approx(1 - 11 / 10), "c": None}
    assert r2["mean_column"] == pytest.approx((1 + 1 - 11 / 8) / 2)

    perfect = reconstruction_r2(X, X)
    assert perfect["overall"] == 1.0 and set(perfect["per_column"]) == {"0", "1", "2"}
    mean = reconstruction_r2(X[:, :2], np.broadcast_to(X[:, :2].mean(axis=0), (3, 2)))
    assert mean["overall"] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="differ in shape"):
        reconstruction_r2(X, X[:, :2])


def grouped_data(n: int = 1000, seed: int = 0) -> tuple[np.ndarray, CategoryMap]:
    """Two independent factors; category "f" holds f, -f (sign flipped) and a noisier copy of f."""
    rng = np.random.default_rng(seed)
    f, g = rng.normal(size=(2, n))
    X = np.stack(
        [f, -f + 0.05 * rng.normal(size=n), f + 1.0 * rng.normal(size=n), g, g + 0.1 * rng.normal(size=n)],
        axis=1,
    )
    names = ["f", "minus_f", "noisy_f", "g", "g2"]
    return X, CategoryMap.from_mapping(names, {"f": names[:3], "g": names[3:]})


def test_inter_category_profiles():
    X, groups = grouped_data()
    result = inter_category(X, groups)
    assert result["categories"] == ["f", "g"]
    correlation = result["profile_correlation"]
    assert correlation.shape == (2, 2) and correlation[0, 0] == 1.0
    assert abs(correlation[0, 1]) < 0.1  # independent factors
    assert result["max_offdiagonal_abs_profile_correlation"] == pytest.approx(abs(correlation[0, 1]))
    np.testing.assert_allclose(result["profile_distance"], 1 - np.abs(correlation))
    blocks = result["column_abs_correlation"]
    assert blocks[0, 0] > 0.7 and blocks[1, 1] > 0.99 and blocks[0, 1] < 0.1
    np.testing.assert_allclose(blocks, blocks.T)

    one = inter_category(X, CategoryMap.from_mapping(groups.names, {"all": list(groups.names)}))
    assert one["max_offdiagonal_abs_profile_correlation"] is None


def test_inter_category_profile_does_not_cancel_sign_flips():
    rng = np.random.default_rng(0)
    f = rng.normal(size=500)
    X = np.stack([f, -f, f + 0.1 * rng.normal(size=500), rng.normal(size=500)], axis=1)
    groups = CategoryMap.from_mapping(
        ["f", "minus_f", "copy", "other"], {"f": ["f", "minus_f"], "copy": ["copy"], "other": ["other"]}
    )
    # a plain mean of f and -f would be 0 everywhere; the sign-aligned profile is ±f
    correlation = inter_category(X, groups)["profile_correlation"]
    assert abs(correlation[0, 1]) > 0.99
    assert abs(correlation[0, 2]) < 0.1


def test_top_features_rank_by_correlation_with_the_first_component():
    X, groups = grouped_data()
    top = top_features(X, groups, k=2)
    assert [name for name, _ in top["f"]] in (["f", "minus_f"], ["minus_f", "f"])
    assert all(0.9 < score <= 1.0 for _, score in top["f"])
    everything = top_features(X, groups, k=10)
    assert [name for name, _ in everything["f"]][-1] == "noisy_f"
    assert len(everything["g"]) == 2
    with pytest.raises(ValueError, match="k must be"):
        top_features(X, groups, k=0)


def test_token_centroids_by_hand():
    X = np.array([[1.0, 10.0], [3.0, 30.0], [5.0, 50.0], [7.0, 70.0]])
    result = token_centroids(X, [2, 0, 2, 2], size=4)
    assert result["codes"] == [0, 2]
    np.testing.assert_allclose(result["centroids"], [[3.0, 30.0], [13 / 3, 130 / 3]])
    assert result["counts"].tolist() == [1, 0, 3, 0]
    assert result["empty"] == [1, 3]
    assert np.all(np.isfinite(result["centroids"]))
    with pytest.raises(ValueError, match="NaN"):
        token_centroids(np.array([[np.nan]]), [0], size=1)
    with pytest.raises(ValueError, match="3 codes for 4 samples"):
        token_centroids(X, [0, 1, 2], size=4)


def test_cross_family_r2_linear_relation_and_independent_noise():
    rng = np.random.default_rng(0)
    n = 300
    architecture = rng.normal(size=(n, 4))
    summary = architecture @ rng.normal(size=(4, 6)) + 0.05 * rng.normal(size=(n, 6))
    noise = rng.normal(size=(n, 3))
    result = cross_family_r2({"architecture": architecture, "summary": summary, "noise": noise}, seed=0)
    assert result["families"] == ["architecture", "summary", "noise"]
    matrix = result["matrix"]
    assert np.all(np.isnan(np.diag(matrix)))
    assert result["pairs"]["architecture -> summary"] > 0.95
    assert result["pairs"]["summary -> architecture"] > 0.95
    assert result["pairs"]["architecture -> noise"] < 0.05
    assert result["pairs"]["noise -> summary"] < 0.05
    assert matrix[0, 1] == result["pairs"]["architecture -> summary"]
    again = cross_family_r2({"architecture": architecture, "summary": summary, "noise": noise}, seed=0)
    np.testing.assert_array_equal(again["matrix"], matrix)

    with pytest.raises(ValueError, match="different numbers of samples"):
        cross_family_r2({"a": architecture, "b": noise[:10]})
    with pytest.raises(ValueError, match="at least 2 families"):
        cross_family_r2({"a": architecture})


def test_summary_text_renders_nested_metrics():
    usage = codebook_usage([0, 0, 1, 1], 4)
    text = summary_text(
        {
            "codebook": usage,
            "quality": {"silhouette": None, "davies_bouldin": 0.123456},
            "matrix": np.eye(2),
            "categories": [{"name": "x", "size": 3}],
            "long": list(range(20)),
        }
    )
    assert "codebook:" in text and "  perplexity: 2.0000" in text
    assert "silhouette: n/a" in text and "davies_bouldin: 0.1235" in text
    assert "dead_codes: [2, 3]" in text
    assert "matrix: array 2×2" in text
    assert "name: x" in text
    assert "(20 items)" in text
    json.dumps(text)
    with pytest.raises(ValueError, match="mapping"):
        summary_text([1, 2])  # type: ignore[arg-type]
