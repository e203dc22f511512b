"""Tests of the wavelet plugin, written as a plugin author would: pytest, torch, numpy and
``spinlock.core.testing`` only.

The fixtures (``register_plugin``, ``fake_entry_points``, ``plugin_manager``) come from spinlock-core's
pytest plugin, which pytest loads automatically once spinlock-core is installed. The values are checked
against an independent numpy Haar transform written with explicit analysis matrices.
"""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import spinlock_wavelet_features
import spinlock_wavelet_features.plugin as wavelet_plugin
from spinlock.core.features.family import FeatureInputs
from spinlock.core.testing import FakeEntryPoint, check_component
from spinlock_wavelet_features.config import WAVELET_VERSION, WaveletConfig
from spinlock_wavelet_features.family import WaveletFamily, haar_energies

DISTRIBUTION = "spinlock-wavelet-features"


# -- registration --------------------------------------------------------------------------------------


def wavelet_spec(manager):
    return manager.components["feature_family"].get("wavelet")


@pytest.fixture
def spec(register_plugin):
    return wavelet_spec(register_plugin(wavelet_plugin, name="wavelet"))


def build(spec, **config) -> WaveletFamily:
    family = spec.build(WaveletConfig(**config))
    assert isinstance(family, WaveletFamily)
    return family


def test_register_plugin_adds_wavelet_with_its_provider(register_plugin):
    manager = register_plugin(wavelet_plugin, name="wavelet")
    spec = wavelet_spec(manager)
    assert spec.plugin == "wavelet"
    assert spec.kind.value == "feature_family"
    assert spec.config_cls is WaveletConfig
    assert spec.factory == "spinlock_wavelet_features.family:WaveletFamily"
    assert spec.metadata["inputs"] == ["trajectory"]
    assert spec.metadata["version"] == WAVELET_VERSION
    assert manager.records["wavelet"].hooks == ["spinlock_register_feature_families"]


def test_wavelet_passes_the_contract_checks(spec):
    # generic checks (summary, frozen config, round trip, factory) and the feature-family contract
    # (columns, shapes, float32, finite, batch independence) on Spinlock's synthetic batches
    check_component(spec)


def test_loads_through_an_entry_point(fake_entry_points):
    manager = fake_entry_points(
        FakeEntryPoint("wavelet", wavelet_plugin, distribution=DISTRIBUTION, version="0.1.0"), strict=True
    )
    spec = wavelet_spec(manager)
    assert (spec.plugin, spec.distribution, spec.version) == ("wavelet", DISTRIBUTION, "0.1.0")
    assert manager.records["wavelet"].ok


def test_the_installed_distribution_provides_wavelet(plugin_manager):
    """Runs where the plugin is pip-installed (``nox -s wavelet_plugin``): the real entry point is found."""
    try:
        installed = importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        pytest.skip(f"{DISTRIBUTION} is not installed (tests run from the source tree)")
    spec = wavelet_spec(plugin_manager)
    assert (spec.plugin, spec.distribution, spec.version) == ("wavelet", DISTRIBUTION, installed)
    assert installed == spinlock_wavelet_features.__version__


def test_registering_imports_no_torch():
    script = textwrap.dedent(
        """
        import sys
        import spinlock_wavelet_features.plugin as plugin

        class Registry:
            def __init__(self):
                self.added = []

            def add(self, name, **kwargs):
                self.added.append(name)

        registry = Registry()
        plugin.spinlock_register_feature_families(registry)
        assert registry.added == ["wavelet"], registry.added
        print("torch" in sys.modules)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


# -- an independent reference ----------------------------------------------------------------------------


def haar_matrix(n: int) -> np.ndarray:
    """Orthonormal 1-D Haar analysis matrix: pair sums in the first n/2 rows, pair differences below."""
    m = np.zeros((n, n))
    for i in range(n // 2):
        m[i, 2 * i : 2 * i + 2] = [1, 1]
        m[n // 2 + i, 2 * i : 2 * i + 2] = [1, -1]
    return m / np.sqrt(2)


def reference_shares(field: np.ndarray, levels: int) -> np.ndarray:
    """``(height, width)`` → the 3 L + 2 per-field values (detail shares, approximation share, mean level)."""
    u = field - field.mean()
    total = np.sum(u**2)
    shares, ll = [], u
    for _ in range(levels):
        h, w = ll.shape
        y = haar_matrix(h) @ ll @ haar_matrix(w).T  # rows filter along height, columns along width
        lh, hl, hh = y[h // 2 :, : w // 2], y[: h // 2, w // 2 :], y[h // 2 :, w // 2 :]
        shares += [np.sum(lh**2) / total, np.sum(hl**2) / total, np.sum(hh**2) / total]
        ll = y[: h // 2, : w // 2]
    shares.append(np.sum(ll**2) / total)
    weights = [*np.repeat(np.arange(1, levels + 1), 3), levels + 1]
    return np.array([*shares, np.dot(weights, shares)])


def reference_values(trajectory: np.ndarray, levels: int) -> np.ndarray:
    """``(batch, realizations, time, channels, height, width)`` → ``(batch, (3 L + 2) · channels)``."""
    B, M, T, C = trajectory.shape[:4]
    out = np.zeros((B, 3 * levels + 2, C))
    for b in range(B):
        for c in range(C):
            fields = [trajectory[b, m, t, c] for m in range(M) for t in range(T)]
            out[b, :, c] = np.mean([reference_shares(f, levels) for f in fields], axis=0)
    return out.reshape(B, -1)  # stat-major, channel-minor


def inputs_of(trajectory: np.ndarray | torch.Tensor) -> FeatureInputs:
    tensor = trajectory if isinstance(trajectory, torch.Tensor) else torch.from_numpy(trajectory)
    return FeatureInputs(trajectory=tensor)


def random_trajectory(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Noise plus a smooth random mode, so that energy is spread over every level."""
    rng = np.random.default_rng(seed)
    h, w = shape[-2:]
    y, x = np.meshgrid(np.arange(h) / h, np.arange(w) / w, indexing="ij")
    smooth = np.sin(2 * np.pi * (x + 2 * y + rng.random((*shape[:-2], 1, 1))))
    return 0.5 * rng.standard_normal(shape) + 2.0 * smooth


# -- values --------------------------------------------------------------------------------------------


def test_columns_are_level_band_then_channel(spec):
    family = build(spec, levels=2)
    columns = family.columns(inputs_of(np.zeros((1, 1, 1, 2, 8, 8))))
    assert columns.names == (
        *("haar_l1_LH_c0", "haar_l1_LH_c1", "haar_l1_HL_c0", "haar_l1_HL_c1", "haar_l1_HH_c0"),
        *("haar_l1_HH_c1", "haar_l2_LH_c0", "haar_l2_LH_c1", "haar_l2_HL_c0", "haar_l2_HL_c1"),
        *("haar_l2_HH_c0", "haar_l2_HH_c1", "haar_approx_c0", "haar_approx_c1", "haar_scale_c0"),
        "haar_scale_c1",
    )
    assert set(columns.categories) == {"multiscale"}
    assert not columns.per_timestep
    assert len(build(spec).columns(inputs_of(np.zeros((1, 1, 1, 3, 16, 16))))) == (3 * 3 + 2) * 3


@pytest.mark.parametrize(("levels", "grid"), [(1, (4, 6)), (3, (16, 8)), (4, (32, 16))])
def test_values_match_an_independent_numpy_haar_transform(spec, levels, grid):
    trajectory = random_trajectory((2, 2, 3, 2, *grid))
    got = build(spec, levels=levels).compute(inputs_of(trajectory))
    assert got.dtype == torch.float64
    np.testing.assert_allclose(got.numpy(), reference_values(trajectory, levels), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("levels", [1, 2, 3, 5])
def test_parseval_subband_energies_add_up_to_the_field_energy(levels):
    field = torch.from_numpy(random_trajectory((3, 2, 32, 64), seed=levels))
    details, approx = haar_energies(field, levels)
    assert details.shape == (3, 2, levels, 3)
    assert approx.shape == (3, 2)
    torch.testing.assert_close(details.sum(dim=(-2, -1)) + approx, field.pow(2).sum(dim=(-2, -1)))


def test_shares_of_each_channel_sum_to_one(spec):
    levels = 3
    values = build(spec, levels=levels).compute(inputs_of(random_trajectory((4, 2, 5, 3, 16, 16)))).numpy()
    per_stat = values.reshape(4, 3 * levels + 2, 3)  # (batch, stat, channel)
    np.testing.assert_allclose(per_stat[:, :-1].sum(axis=1), 1.0, rtol=1e-12)
    scale = per_stat[:, -1]
    assert np.all((scale >= 1.0) & (scale <= levels + 1))


def pattern(h: int, w: int, along_height: list[int] | None, along_width: list[int] | None) -> np.ndarray:
    """A separable ±1 pattern repeating ``along_height`` down the rows and ``along_width`` across columns."""
    rows = np.resize(along_height or [1], h)
    cols = np.resize(along_width or [1], w)
    return np.outer(rows, cols).astype(float)


@pytest.mark.parametrize(
    ("along_height", "along_width", "column"),
    [
        ([1, -1], [1, -1], "haar_l1_HH"),  # checkerboard
        ([1, -1], None, "haar_l1_LH"),  # rows alternate: variation along height only
        (None, [1, -1], "haar_l1_HL"),  # columns alternate: variation along width only
        (None, [1, 1, -1, -1], "haar_l2_HL"),  # stripes two cells wide
        ([1, 1, -1, -1], [1, 1, -1, -1], "haar_l2_HH"),  # checkerboard of 2×2 blocks
        ([1] * 8 + [-1] * 8, None, "haar_approx"),  # coarser than 2**3 cells
    ],
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_a_pure_pattern_puts_all_energy_in_one_subband(spec, along_height, along_width, column, dtype):
    field = pattern(16, 16, along_height, along_width)
    # three channels: different amplitudes and offsets, the same pattern (the mean is removed)
    trajectory = np.stack([3.0 * field + 1.0, 0.5 * field - 7.0, field], axis=0)[None, None, None]
    trajectory = np.repeat(trajectory, 2, axis=1)  # two realizations
    family = build(spec, levels=3)
    values = family.compute(inputs_of(torch.from_numpy(trajectory).to(dtype)))
    assert values.dtype == dtype
    stats = family.column_stats()
    per_stat = values[0].reshape(len(stats), 3)  # (stat, channel)
    expected_scale = 4 if column == "haar_approx" else int(column.removeprefix("haar_l")[0])
    for k in range(3):
        shares = dict(zip(stats, per_stat[:, k].tolist(), strict=True))
        assert shares.pop("haar_scale") == pytest.approx(expected_scale, rel=1e-6)
        assert shares.pop(column) == pytest.approx(1.0, rel=1e-6)
        assert max(abs(v) for v in shares.values()) < 1e-6, shares


def test_a_constant_field_gives_zeros_and_finite_gradients(spec):
    trajectory = torch.full((2, 1, 3, 2, 8, 8), 4.0, dtype=torch.float64, requires_grad=True)
    values = build(spec, levels=2).compute(inputs_of(trajectory))
    assert torch.equal(values, torch.zeros_like(values))
    values.sum().backward()
    assert trajectory.grad is not None
    assert bool(torch.isfinite(trajectory.grad).all())


def test_each_sample_is_computed_from_itself_alone(spec):
    family = build(spec)
    trajectory = torch.from_numpy(random_trajectory((5, 2, 4, 3, 16, 16), seed=3))
    batch = family.compute(inputs_of(trajectory))
    alone = family.compute(inputs_of(trajectory[:1]))
    torch.testing.assert_close(alone[0], batch[0], rtol=1e-13, atol=1e-15)
    shuffled = family.compute(inputs_of(trajectory[[4, 2, 0]]))
    torch.testing.assert_close(shuffled, batch[[4, 2, 0]], rtol=1e-13, atol=1e-15)
    # a non-finite value spoils its own sample only
    broken = trajectory.clone()
    broken[1, 0, 2, 1, 3, 3] = float("nan")
    values = family.compute(inputs_of(broken))
    assert bool(torch.isnan(values[1]).any())
    torch.testing.assert_close(values[[0, 2, 3, 4]], batch[[0, 2, 3, 4]], rtol=1e-13, atol=1e-15)


def test_an_empty_batch_gives_an_empty_result(spec):
    values = build(spec).compute(inputs_of(torch.zeros((0, 2, 3, 2, 16, 16))))
    assert values.shape == (0, (3 * 3 + 2) * 2)
    assert values.dtype == torch.float32


def test_chunking_over_time_does_not_change_the_values(spec):
    trajectory = inputs_of(random_trajectory((2, 3, 7, 2, 8, 8), seed=5))
    whole = build(spec, levels=2).compute(trajectory)
    one_step_at_a_time = build(spec, levels=2, chunk_elements=1).compute(trajectory)
    torch.testing.assert_close(one_step_at_a_time, whole, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize(
    ("given", "expected"),
    [(torch.float64, torch.float64), (torch.float32, torch.float32), (torch.float16, torch.float32)],
)
def test_float64_in_gives_float64_out_else_float32(spec, given, expected):
    trajectory = torch.from_numpy(random_trajectory((2, 1, 2, 1, 8, 8))).to(given)
    values = build(spec, levels=2).compute(inputs_of(trajectory))
    assert values.dtype == expected
    assert values.shape == (2, 3 * 2 + 2)
    assert bool(torch.isfinite(values).all())


def test_values_are_differentiable(spec):
    family = build(spec, levels=2)
    trajectory = torch.from_numpy(random_trajectory((2, 2, 2, 2, 4, 8), seed=7)).requires_grad_()
    assert torch.autograd.gradcheck(lambda t: family.compute(inputs_of(t)), (trajectory,))


# -- errors --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "error", "message"),
    [
        ({"levels": 0}, ValueError, "'levels' must be >= 1"),
        ({"levels": -2}, ValueError, "'levels' must be >= 1"),
        ({"levels": "3"}, TypeError, "'levels' must be <class 'int'>"),
        ({"chunk_elements": 0}, ValueError, "'chunk_elements' must be >= 1"),
    ],
)
def test_bad_configs_are_rejected(config, error, message):
    with pytest.raises(error, match=message):
        WaveletConfig(**config)


def test_the_config_is_frozen():
    config = WaveletConfig()
    with pytest.raises(AttributeError):
        config.levels = 2  # type: ignore[misc]


@pytest.mark.parametrize(
    ("trajectory", "message"),
    [
        (None, "needs inputs.trajectory"),
        (np.zeros((2, 1, 3, 1, 16, 16)), "must be a torch.Tensor"),
        (
            torch.zeros((2, 3, 1, 16, 16)),
            r"must be 6-D \(batch, realizations, time, channels, height, width\)",
        ),
        (torch.zeros((2, 1, 3, 1, 16, 16), dtype=torch.int64), "must be floating point"),
        (torch.zeros((2, 1, 0, 1, 16, 16)), "at least one realization, time step and channel"),
        (torch.zeros((2, 1, 3, 1, 12, 16)), r"12×16 cannot be split into 3 Haar levels.*2\*\*3 = 8"),
        (torch.zeros((2, 1, 3, 1, 16, 20)), r"16×20 cannot be split into 3 Haar levels"),
        (torch.zeros((2, 1, 3, 1, 4, 4)), r"4×4 cannot be split into 3 Haar levels"),
    ],
)
def test_bad_trajectories_are_rejected_by_columns_and_compute(spec, trajectory, message):
    family = build(spec)
    inputs = FeatureInputs(trajectory=trajectory)
    with pytest.raises(ValueError, match=message):
        family.columns(inputs)
    with pytest.raises(ValueError, match=message):
        family.compute(inputs)


def test_haar_energies_rejects_bad_levels_and_shapes():
    with pytest.raises(ValueError, match="levels must be an integer >= 1"):
        haar_energies(torch.zeros(8, 8), 0)
    with pytest.raises(ValueError, match=r"6×8 cannot be split into 2 Haar levels"):
        haar_energies(torch.zeros(6, 8), 2)
