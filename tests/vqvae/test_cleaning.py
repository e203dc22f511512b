"""Feature cleaning: hand-made columns, replay, state round trip, bad input."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from spinlock.vqvae.cleaning import Cleaner, CleaningConfig, fit_cleaner, yeo_johnson, yeo_johnson_inverse

NAN, INF = np.nan, np.inf
SIGMA = 1.4826 * 2.5  # robust std of 1..10 and of the outlier column below (MAD 2.5)


def hand_made() -> tuple[np.ndarray, list[str]]:
    """Ten rows of columns whose fate is known by hand."""
    a = np.arange(1.0, 11.0)
    columns = {
        "a": a,
        "const": np.full(10, 3.0),
        "near_const": 1000.0 + 1e-7 * np.arange(10),
        "dup": 2.0 * a + 1.0,
        "neg_dup": -a,
        # finite values 1..9 and 1000: median 5.5, MAD 2.5 → upper cap 5.5 + 5·1.4826·2.5 = 24.0325
        "outlier": np.array([5, 3, 8, 1, 9, 2, 7, 4, 6, 1000.0]),
        "mostly_nan": np.array([NAN, NAN, NAN, INF, -INF, NAN, 1, 2, 3, 4]),
        # finite values 3,1,4,1,5,9,2,6: median 3.5
        "some_nan": np.array([NAN, INF, 3, 1, 4, 1, 5, 9, 2, 6]),
        "all_nan": np.full(10, NAN),
        # a rare flag: MAD = IQR = 0, so σ̂ falls back to the std (0.3) and the flag survives capping
        "sparse": np.array([1.0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
    }
    return np.stack(list(columns.values()), axis=1), list(columns)


def test_hand_made_columns_are_dropped_for_the_right_reason():
    X, names = hand_made()
    cleaner = fit_cleaner(X, names, CleaningConfig(normalization="robust", power_transform=None))
    assert cleaner.kept_names == ("a", "outlier", "some_nan", "sparse")
    assert cleaner.report.dropped_by_reason() == {
        "nonfinite": ["mostly_nan", "all_nan"],
        "constant": ["const", "near_const"],
        "duplicate": ["dup", "neg_dup"],
    }
    duplicates = {c.name: c.duplicate_of for c in cleaner.report.dropped if c.reason == "duplicate"}
    assert duplicates == {"dup": "a", "neg_dup": "a"}
    assert [c.index for c in cleaner.report.dropped] == [1, 2, 3, 4, 6, 8]
    assert cleaner.report.imputed_fraction == pytest.approx((0.0, 0.0, 0.2, 0.0))
    assert cleaner.report.capped_fraction == pytest.approx((0.0, 0.1, 0.0, 0.0))


def test_robust_values_checked_by_hand():
    X, names = hand_made()
    cleaner = fit_cleaner(X, names, CleaningConfig(normalization="robust", power_transform=None))
    np.testing.assert_allclose(cleaner.fill, [5.5, 5.5, 3.5, 0.0])
    np.testing.assert_allclose(cleaner.upper[:2], [5.5 + 5 * SIGMA] * 2)
    np.testing.assert_allclose(cleaner.scale[:3], [SIGMA, SIGMA, 1.4826 * 2.0])  # some_nan: MAD 2
    np.testing.assert_allclose(cleaner.scale[3], 0.3)  # std of one 1 in ten 0s

    Z = cleaner.transform(X)
    assert Z.dtype == np.float32 and Z.shape == (10, 4)
    np.testing.assert_allclose(Z[:, 0], (np.arange(1, 11) - 5.5) / SIGMA, rtol=1e-6)
    assert Z[9, 1] == pytest.approx(5.0)  # 1000 capped at median + 5 σ̂
    assert Z[0, 2] == Z[1, 2] == 0.0  # NaN and inf imputed at the median
    np.testing.assert_allclose(Z[:, 3], np.r_[1.0, np.zeros(9)] / 0.3, rtol=1e-6)


def test_standard_normalisation_gives_zero_mean_unit_std():
    X, names = hand_made()
    Z = fit_cleaner(X, names).transform(X)
    np.testing.assert_allclose(Z.mean(axis=0), 0.0, atol=1e-6)
    np.testing.assert_allclose(Z.std(axis=0), 1.0, rtol=1e-6)


def test_nan_policies():
    X, names = hand_made()
    imputing = fit_cleaner(X, names, CleaningConfig(nan_policy="median", normalization="robust"))
    assert "mostly_nan" in imputing.kept_names
    assert imputing.report.dropped_by_reason()["nonfinite"] == ["all_nan"]  # no finite value to impute
    position = imputing.kept_names.index("mostly_nan")
    assert imputing.fill[position] == 2.5

    tolerant = fit_cleaner(X, names, CleaningConfig(max_nonfinite_fraction=0.6))
    assert "mostly_nan" in tolerant.kept_names
    strict = fit_cleaner(X, names, CleaningConfig(max_nonfinite_fraction=0.1))
    assert "some_nan" not in strict.kept_names


def test_switches_off():
    X, names = hand_made()
    cleaner = fit_cleaner(
        X,
        names,
        CleaningConfig(
            correlation_threshold=None, outlier_k=None, variance_threshold=0.0, power_transform=None
        ),
    )
    assert cleaner.kept_names == ("a", "near_const", "dup", "neg_dup", "outlier", "some_nan", "sparse")
    assert np.all(np.isinf(cleaner.upper))
    Z = cleaner.transform(X)
    assert Z[9, cleaner.kept_names.index("outlier")] > 2.5  # not capped


def test_correlation_threshold_keeps_the_first_of_a_group():
    rng = np.random.default_rng(0)
    base = rng.normal(size=500)
    X = np.stack([rng.normal(size=500), base, base + 0.01 * rng.normal(size=500), base * 3], axis=1)
    cleaner = fit_cleaner(X, ["noise", "b1", "b2", "b3"])
    assert cleaner.kept_names == ("noise", "b1")
    loose = fit_cleaner(X, ["noise", "b1", "b2", "b3"], CleaningConfig(correlation_threshold=0.99999))
    assert loose.kept_names == ("noise", "b1", "b2")


def test_transform_replays_with_training_statistics():
    X, names = hand_made()
    cleaner = fit_cleaner(X, names, CleaningConfig(power_transform=None))
    Z = cleaner.transform(X)
    # rows are independent of each other: a subset transforms to the subset
    np.testing.assert_array_equal(cleaner.transform(X[3:7]), Z[3:7])

    new = X[:4].copy()
    new[:, 0] = [NAN, INF, -INF, 1e30]
    out = cleaner.transform(new)
    assert np.all(np.isfinite(out))
    a = (np.clip(5.5, cleaner.lower[0], cleaner.upper[0]) - cleaner.centre[0]) / cleaner.scale[0]
    np.testing.assert_allclose(out[:3, 0], a, rtol=1e-6)
    assert out[3, 0] == pytest.approx((cleaner.upper[0] - cleaner.centre[0]) / cleaner.scale[0])


# -- Yeo–Johnson power transform --------------------------------------------------------------------------


@pytest.mark.parametrize("lam", [-2.0, -0.5, 0.0, 0.5, 1.0, 2.0, 3.5])
def test_yeo_johnson_matches_scipy_and_inverts(lam):
    from scipy.stats import yeojohnson

    u = np.random.default_rng(1).normal(size=(300, 1)) * 3.0
    v = yeo_johnson(u, np.array([lam]))
    np.testing.assert_allclose(v[:, 0], yeojohnson(u[:, 0], lam), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(yeo_johnson_inverse(v, np.array([lam])), u, rtol=1e-10, atol=1e-10)
    assert np.all(np.diff(v[np.argsort(u[:, 0]), 0]) > 0)  # strictly monotone


def test_power_transform_makes_scale_columns_symmetric_and_keeps_their_order():
    """A log-normal 'spread' column (spanning decades) becomes nearly symmetric; ranks are unchanged."""
    from scipy.stats import skew, spearmanr

    rng = np.random.default_rng(0)
    spread = np.exp(rng.normal(size=2000) * 1.5)
    X = np.stack([spread, rng.normal(size=2000)], axis=1)
    plain = fit_cleaner(X, ["spread", "normal"], CleaningConfig(power_transform=None)).transform(X)
    fitted = fit_cleaner(X, ["spread", "normal"])
    Z = fitted.transform(X)
    assert abs(skew(plain[:, 0])) > 1.0  # capping alone leaves the tail
    assert abs(skew(Z[:, 0])) < 0.3
    assert spearmanr(Z[:, 0], plain[:, 0]).statistic == pytest.approx(1.0)  # same caps, same ranks
    assert fitted.power_lambda is not None and abs(fitted.power_lambda[1] - 1.0) < 0.2  # normal: ~identity
    np.testing.assert_allclose(Z.mean(axis=0), 0.0, atol=1e-6)
    np.testing.assert_allclose(Z.std(axis=0), 1.0, atol=1e-5)
    # inside the caps the inverse recovers the original units
    inside = (X[:, 0] > fitted.lower[0]) & (X[:, 0] < fitted.upper[0])
    np.testing.assert_allclose(fitted.inverse_transform(Z)[inside, 0], X[inside, 0], rtol=1e-4)


def test_states_of_the_first_format_load_without_a_power_transform():
    X, names = hand_made()
    cleaner = fit_cleaner(X, names, CleaningConfig(power_transform=None))
    state = cleaner.to_state()
    state["format"] = "spinlock.vqvae.cleaner/1"
    del state["power"], state["config"]["power_transform"]
    old = Cleaner.from_state(state)
    assert old.config.power_transform is None and old.power_lambda is None
    np.testing.assert_array_equal(old.transform(X), cleaner.transform(X))


def test_inverse_transform_returns_capped_original_units():
    X, names = hand_made()
    cleaner = fit_cleaner(X, names)
    back = cleaner.inverse_transform(cleaner.transform(X))
    np.testing.assert_allclose(back[:, 0], np.arange(1, 11), rtol=1e-6)
    np.testing.assert_allclose(back[9, 1], 5.5 + 5 * SIGMA, rtol=1e-6)
    np.testing.assert_allclose(back[:2, 2], 3.5, rtol=1e-6)


def test_state_round_trip_through_json_and_torch_weights_only():
    X, names = hand_made()
    for config in (CleaningConfig(), CleaningConfig(outlier_k=None, normalization="robust")):
        cleaner = fit_cleaner(X, names, config)
        state = json.loads(json.dumps(cleaner.to_state()))
        again = Cleaner.from_state(state)
        assert again.config == cleaner.config
        assert again.kept_names == cleaner.kept_names
        assert again.report == cleaner.report
        np.testing.assert_array_equal(again.transform(X), cleaner.transform(X))

    torch = pytest.importorskip("torch")
    buffer = io.BytesIO()
    torch.save({"cleaner": cleaner.to_state()}, buffer)
    buffer.seek(0)
    loaded = Cleaner.from_state(torch.load(buffer, weights_only=True)["cleaner"])
    np.testing.assert_array_equal(loaded.transform(X), cleaner.transform(X))


def test_bad_inputs():
    X, names = hand_made()
    with pytest.raises(ValueError, match="2-D"):
        fit_cleaner(X[:, 0], ["a"])
    with pytest.raises(ValueError, match="names"):
        fit_cleaner(X, names[:-1])
    with pytest.raises(ValueError, match="duplicate column names"):
        fit_cleaner(X[:, :2], ["a", "a"])
    with pytest.raises(ValueError, match="at least 2 samples"):
        fit_cleaner(X[:1], names)
    with pytest.raises(ValueError, match="all 2 columns were dropped"):
        fit_cleaner(X[:, [1, 2]], ["const", "near_const"])
    with pytest.raises(ValueError, match="non-finite"):
        fit_cleaner(X[:, [8]], ["all_nan"])
    cleaner = fit_cleaner(X, names)
    with pytest.raises(ValueError, match="fitted on 10"):
        cleaner.transform(X[:, :3])
    with pytest.raises(ValueError, match="keeps 4"):
        cleaner.inverse_transform(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="format"):
        Cleaner.from_state({"format": "something else"})


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("nan_policy", "medain", "did you mean 'median'"),
        ("normalization", "minmax", "'normalization' must be one of"),
        ("max_nonfinite_fraction", 1.5, r"\[0, 1\]"),
        ("variance_threshold", -1.0, "variance_threshold"),
        ("correlation_threshold", 0.0, "correlation_threshold"),
        ("outlier_k", 0.0, "outlier_k"),
    ],
)
def test_config_validation(field, value, message):
    with pytest.raises(ValueError, match=message):
        CleaningConfig(**{field: value})
