"""Rollout grids: every chosen operator's realizations over time, with aggregate panels.

``spinlock visualize rollouts D.h5 --indices 0,3,5`` renders, for the chosen operators,

- an **animation** (MP4 through imageio-ffmpeg, GIF through Pillow), one frame per stored time step: one row
  per operator; columns are the realizations (at most ``max_realizations``), then three aggregate panels —
  the **realization mean**, the **realization variance** (summed over channels) and the **radially averaged
  power spectrum over time** (wavenumber → right, time ↓, log power over at most 8 decades below the
  clip's peak; the current time is marked by white ticks on both edges);
- a **contact sheet** (PNG): one row per operator, realization 0 at a few evenly spaced times, then the mean
  and variance at the last time and the whole spectrum-over-time image.

Colours (:class:`ClipColoring`), fitted per operator on its whole clip (all realizations and times):

- ``rgb`` (default for C = 3): channels 0, 1, 2 → R, G, B, each min–max normalised over the clip;
- ``pca`` (default for C ≠ 1, 3): the clip's pixels ``(C,)`` projected on their first three principal
  components, each component min–max normalised over the clip → R, G, B;
- a channel number (default 0 for C = 1): that channel min–max normalised over the clip through a colormap
  (``viridis`` unless ``cmap`` is given; ``gray`` keeps the intensity ordering exactly);
- variance and spectrum panels use their own colormaps (``magma``, ``inferno``), normalised over the clip.

Trajectories come from ``/trajectories/fields`` when the dataset stores them; otherwise the true operators
are recomputed deterministically from the file (:func:`replay_trajectories`, through
:func:`spinlock.operators.generation.pipeline.replay_operators`).

Pixels are composed with numpy (fields are shown at an integer zoom, nearest-neighbour, so every grid cell
is a ``zoom × zoom`` block: see :attr:`GridLayout.zoom`); matplotlib draws only the static labels once, on
the headless Agg backend. Frame sizes are multiples of 16 pixels, so H.264 needs no rescaling.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from spinlock.operators.gallery import MissingDependencyError

#: Animation/sheet formats :func:`render_rollouts` writes.
FORMATS = ("mp4", "gif", "png")

INSTALL_HINT = "pip install 'spinlock-operators[viz]'"

#: ``progress(stage, done, total)``: called as frames are rendered and files written.
ProgressFn = Callable[[str, int, int], None]

Source = Literal["stored", "replayed"]


# ------------------------------------------------------------------------------------------------ data


@dataclass(frozen=True)
class RolloutClip:
    """One operator's rollout as shown.

    :param index: the operator's row in the dataset.
    :param trajectories: ``(M, T', C, H, W)`` float32 stored states.
    :param ic_type: its initial-condition type.
    :param status: ``ok``, ``diverged`` or ``failed``.
    :param source: ``stored`` (read from ``/trajectories/fields``) or ``replayed`` (recomputed).
    :param stride: time stride between stored states.
    """

    index: int
    trajectories: np.ndarray = field(repr=False)
    ic_type: str
    status: str
    source: Source
    stride: int = 1

    @property
    def n_frames(self) -> int:
        """T', the number of stored states."""
        return int(self.trajectories.shape[1])


def parse_indices(text: str) -> list[int]:
    """``"0,3,5"`` or ``"0-3,7"`` → ``[0, 3, 5]`` / ``[0, 1, 2, 3, 7]``.

    :raises ValueError: an empty list, a non-integer item, a negative index, a reversed range or a
        duplicate (the message names it).
    """
    out: list[int] = []
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        lo_text, sep, hi_text = item.partition("-") if not item.startswith("-") else (item, "", "")
        try:
            lo = int(lo_text)
            hi = int(hi_text) if sep else lo
        except ValueError:
            raise ValueError(
                f"bad operator index {item!r} in {text!r}: expected integers like 0,3,5"
            ) from None
        if hi < lo:
            raise ValueError(f"operator index range {item!r} is reversed")
        out.extend(range(lo, hi + 1))
    if not out:
        raise ValueError(f"no operator indices in {text!r}")
    negative = [i for i in out if i < 0]
    if negative:
        raise ValueError(f"operator indices must be >= 0, got {negative}")
    duplicates = sorted({i for i in out if out.count(i) > 1})
    if duplicates:
        raise ValueError(f"operator indices repeat: {duplicates}")
    return out


def check_indices(indices: Sequence[int], n_operators: int, done: np.ndarray, path: Path | str) -> None:
    """Refuse indices outside ``[0, n_operators)`` or of operators not generated yet.

    :raises ValueError: naming the bad indices.
    """
    if not indices:
        raise ValueError("no operator indices given")
    bad = [i for i in indices if not 0 <= i < n_operators]
    if bad:
        raise ValueError(f"operator indices {bad} are outside [0, {n_operators}) of {path}")
    pending = [i for i in indices if not bool(done[i])]
    if pending:
        raise ValueError(f"operators {pending} of {path} are not generated yet (pending)")


def replay_trajectories(
    path: str | Path, indices: Sequence[int], manager: Any = None
) -> dict[int, dict[str, Any]]:
    """The true operators' states, recomputed from the dataset file (for datasets without trajectories).

    A thin wrapper of :func:`spinlock.operators.generation.pipeline.replay_operators`: config, seed and
    compute plan come from the file and each operator is recomputed within its original batch, so the states
    are bit-identical to the ones generation saw. This adds the time stride and a clear error when the
    stored compute plan needs a CUDA device this machine lacks.

    :returns: index → ``{"trajectories": (M, T', C, H, W) float32, "status": str, "stride": int}``.
    :raises ValueError: indices outside the dataset, a config that cannot be rebuilt (e.g. its plugins are
        not installed), or a CUDA plan without CUDA.
    """
    import torch

    from spinlock.core.config import RunConfig, loads_config, make_converter
    from spinlock.core.storage import open_dataset
    from spinlock.operators.generation.pipeline import replay_operators

    if manager is None:
        from spinlock.core.plugins import build_plugin_manager

        manager = build_plugin_manager()
    with open_dataset(path) as reader:
        config_yaml = reader.config_yaml
        device = str((reader.compute_plan or {}).get("device", "cpu"))
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(
            f"{path} was generated on {device}; recomputing its operators bit-identically needs CUDA, which "
            "is not available here"
        )
    config = loads_config(
        config_yaml, RunConfig, make_converter(manager.components), f"{path} (stored config)"
    )
    replayed = replay_operators(path, [int(i) for i in indices], manager)
    out: dict[int, dict[str, Any]] = {}
    for index, item in replayed.items():
        if item.get("trajectories") is None:
            raise ValueError(f"replaying {path} gave no trajectories (spinlock-operators too old?)")
        out[int(index)] = {
            "trajectories": np.asarray(item["trajectories"], dtype=np.float32),
            "status": str(item["status"]),
            "stride": int(config.storage.trajectory_stride),
        }
    return out


#: operators shown when none are chosen
DEFAULT_COUNT = 3


def load_rollouts(
    path: str | Path,
    indices: Sequence[int] | None = None,
    *,
    manager: Any = None,
    replay: bool | None = None,
) -> list[RolloutClip]:
    """The chosen operators' rollouts, stored or replayed, in the order asked.

    :param indices: operator rows; ``None``: the first :data:`DEFAULT_COUNT` generated operators.
    :param replay: ``None``: replay only when the dataset stores no trajectories; ``True``: always replay;
        ``False``: never (a dataset without trajectories is then refused).
    :raises spinlock.core.storage.DatasetError: the file is not a readable Spinlock dataset.
    :raises ValueError: bad indices, or ``replay=False`` without stored trajectories.
    """
    from spinlock.core.storage import open_dataset

    with open_dataset(path) as reader:
        done = reader.done()
        if indices is None:
            indices = [int(i) for i in np.flatnonzero(done)[:DEFAULT_COUNT]]
        indices = [int(i) for i in indices]
        check_indices(indices, reader.n_operators, done, path)
        ic_types = reader.ic_types()
        statuses = reader.status()
        stored = reader.has_trajectories and replay is not True
        if not stored and replay is False:
            raise ValueError(f"{path} stores no trajectories (and replay is off)")
        if stored:
            values = reader.trajectories(indices)
            assert values is not None
            stride = int(reader.stride or 1)
            return [
                RolloutClip(
                    index=i,
                    trajectories=np.asarray(values[k], dtype=np.float32),
                    ic_type=ic_types[i],
                    status=statuses[i],
                    source="stored",
                    stride=stride,
                )
                for k, i in enumerate(indices)
            ]
    replayed = replay_trajectories(path, indices, manager)
    return [
        RolloutClip(
            index=i,
            trajectories=replayed[i]["trajectories"],
            ic_type=ic_types[i],
            status=statuses[i],
            source="replayed",
            stride=int(replayed[i]["stride"]),
        )
        for i in indices
    ]


# --------------------------------------------------------------------------------------------- colours


def import_pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend; :class:`MissingDependencyError` without matplotlib."""
    try:
        import matplotlib
    except ImportError as exc:
        raise MissingDependencyError(
            f"rollout pictures need matplotlib, which is not installed: {INSTALL_HINT}"
        ) from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def colormap_lut(name: str) -> np.ndarray:
    """A ``(256, 3)`` uint8 lookup table of the matplotlib colormap ``name``.

    :raises ValueError: an unknown colormap name.
    :raises MissingDependencyError: matplotlib is not installed.
    """
    import_pyplot()
    import matplotlib

    try:
        cmap = matplotlib.colormaps[name]
    except KeyError as exc:
        raise ValueError(f"unknown colormap {name!r} (see matplotlib's colormap list)") from exc
    rgba = cmap(np.linspace(0.0, 1.0, 256))
    return np.asarray(np.rint(rgba[:, :3] * 255.0), dtype=np.uint8)


def resolve_channels(mode: str | int, n_channels: int) -> str | int:
    """``auto``/``rgb``/``pca``/channel number → ``"rgb"``, ``"pca"`` or a channel index for C channels.

    ``auto``: ``rgb`` for C = 3, channel 0 for C = 1, ``pca`` otherwise.

    :raises ValueError: ``rgb`` with C ≠ 3, a channel outside ``[0, C)``, or an unknown mode.
    """
    text = str(mode).strip().lower()
    if text == "auto":
        return "rgb" if n_channels == 3 else (0 if n_channels == 1 else "pca")
    if text == "rgb":
        if n_channels != 3:
            raise ValueError(f"--channels rgb needs 3 channels; the fields have {n_channels} (use pca or 0)")
        return "rgb"
    if text == "pca":
        return "pca" if n_channels > 1 else 0
    try:
        channel = int(text)
    except ValueError:
        raise ValueError(f"--channels must be auto, rgb, pca or a channel number, got {mode!r}") from None
    if not 0 <= channel < n_channels:
        raise ValueError(f"channel {channel} is outside [0, {n_channels}) of the fields")
    return channel


def _unit(x: np.ndarray, lo: np.ndarray | float, hi: np.ndarray | float) -> np.ndarray:
    span = np.asarray(hi, dtype=np.float64) - np.asarray(lo, dtype=np.float64)
    safe = np.where(span > 0, span, 1.0)
    return np.where(span > 0, np.clip((x - lo) / safe, 0.0, 1.0), 0.0)


def _finite(x: np.ndarray) -> np.ndarray:
    return np.nan_to_num(np.asarray(x, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)


class ClipColoring:
    """Field → RGB mapping fitted on one operator's whole clip ``(M, T, C, H, W)``.

    :param clip: the states the normalisation is taken over (non-finite values count as 0).
    :param mode: ``auto``, ``rgb``, ``pca`` or a channel number (see :func:`resolve_channels`).
    :param cmap: colormap of a single shown channel.
    """

    def __init__(self, clip: np.ndarray, mode: str | int = "auto", cmap: str = "viridis") -> None:
        x = _finite(clip)
        if x.ndim != 5:
            raise ValueError(f"expected a clip (M, T, C, H, W), got shape {x.shape}")
        self.mode = resolve_channels(mode, x.shape[2])
        self.n_channels = int(x.shape[2])
        self._lut = colormap_lut(cmap) if isinstance(self.mode, int) else None
        self._basis: np.ndarray | None = None
        self._centre: np.ndarray | None = None
        if self.mode == "pca":
            pixels = np.moveaxis(x, 2, -1).reshape(-1, self.n_channels)
            self._centre = pixels.mean(axis=0)
            cov = np.cov((pixels - self._centre).T, bias=True).reshape(self.n_channels, self.n_channels)
            eigval, eigvec = np.linalg.eigh(cov)
            order = np.argsort(eigval)[::-1][:3]
            basis = eigvec[:, order]
            # a sign convention, so the picture does not flip between runs or platforms
            signs = np.sign(basis[np.argmax(np.abs(basis), axis=0), np.arange(basis.shape[1])])
            self._basis = basis * np.where(signs == 0, 1.0, signs)
        values = self._values(x)
        axes = tuple(range(values.ndim - 1))
        self.lo = values.min(axis=axes)
        self.hi = values.max(axis=axes)

    def _values(self, x: np.ndarray) -> np.ndarray:
        """``(..., C, H, W)`` → ``(..., H, W, k)`` values that are normalised (k = 3 or 1)."""
        if self.mode == "rgb":
            return np.moveaxis(x, -3, -1)
        if self.mode == "pca":
            assert self._basis is not None and self._centre is not None
            return (np.moveaxis(x, -3, -1) - self._centre) @ self._basis
        assert isinstance(self.mode, int)
        return x[..., self.mode, :, :][..., None]

    def unit(self, fields: np.ndarray) -> np.ndarray:
        """``(..., C, H, W)`` → ``(..., H, W, k)`` in [0, 1]: the clip's minimum → 0, its maximum → 1."""
        return _unit(self._values(_finite(fields)), self.lo, self.hi)

    def __call__(self, fields: np.ndarray) -> np.ndarray:
        """``(..., C, H, W)`` fields → ``(..., H, W, 3)`` uint8 RGB."""
        unit = self.unit(fields)
        if self._lut is not None:
            return self._lut[np.rint(unit[..., 0] * 255.0).astype(np.intp)]
        if unit.shape[-1] < 3:  # PCA of 2 channels: the third component is 0
            pad = np.zeros((*unit.shape[:-1], 3 - unit.shape[-1]))
            unit = np.concatenate([unit, pad], axis=-1)
        return np.rint(unit * 255.0).astype(np.uint8)


def realization_variance(clip: np.ndarray) -> np.ndarray:
    """``(M, T, C, H, W)`` → ``(T, H, W)``: the variance over realizations (population), summed over channels."""
    return _finite(clip).var(axis=0).sum(axis=1)


def radial_power(clip: np.ndarray) -> np.ndarray:
    """Radially averaged power spectrum over time, ``(M, T, C, H, W)`` → ``(T, K)``, K = min(H, W) // 2 + 1.

    Each state minus its spatial mean is Fourier transformed; ``|F|²`` is averaged over the wavevectors
    whose integer radius ``round(|k|)`` is the shell (k in cycles per domain), then over realizations and
    channels. Shell 0 holds only the removed mean (0).
    """
    x = _finite(clip)
    _, _, _, H, W = x.shape
    centred = x - x.mean(axis=(-2, -1), keepdims=True)
    power = np.abs(np.fft.fft2(centred)) ** 2 / (H * W)
    ky = np.fft.fftfreq(H) * H
    kx = np.fft.fftfreq(W) * W
    radius = np.rint(np.sqrt(ky[:, None] ** 2 + kx[None, :] ** 2)).astype(np.intp)
    K = min(H, W) // 2 + 1
    inside = radius < K
    flat = power.mean(axis=(0, 2))[..., inside]  # (T, pixels inside)
    shell = radius[inside]
    sums = np.stack([np.bincount(shell, weights=row, minlength=K) for row in flat])
    counts = np.bincount(shell, minlength=K).astype(np.float64)
    return sums / np.maximum(counts, 1.0)


# ---------------------------------------------------------------------------------------------- layout


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


@dataclass(frozen=True)
class GridLayout:
    """Pixel geometry of a frame or contact sheet (origin top-left, as in the saved image).

    :param width: image width in pixels (a multiple of 16).
    :param height: image height in pixels (a multiple of 16).
    :param zoom: each field cell is a ``zoom × zoom`` block of pixels.
    :param panel: ``(height, width)`` of every panel in pixels.
    :param cells: ``cells[r][c] = (top, left)`` of the panel in row ``r``, column ``c``.
    :param label_width: width of the row-label column.
    :param header: height of the title and column-heading band.
    """

    width: int
    height: int
    zoom: int
    panel: tuple[int, int]
    cells: tuple[tuple[tuple[int, int], ...], ...]
    label_width: int
    header: int

    def cell_centre(self, row: int, col: int, i: int, j: int) -> tuple[int, int]:
        """Pixel ``(y, x)`` at the centre of field cell ``(i, j)`` in panel ``(row, col)``."""
        top, left = self.cells[row][col]
        return top + i * self.zoom + self.zoom // 2, left + j * self.zoom + self.zoom // 2


def grid_layout(
    n_rows: int, n_cols: int, field_shape: tuple[int, int], *, panel_px: int = 96, dpi: int = 100
) -> GridLayout:
    """The geometry of ``n_rows × n_cols`` panels of ``(H, W)`` fields shown about ``panel_px`` wide.

    Lengths are set at 100 dpi and scaled by ``dpi / 100``; the image is padded to a multiple of 16 pixels.
    """
    H, W = field_shape
    if n_rows < 1 or n_cols < 1 or H < 1 or W < 1 or panel_px < 1 or dpi < 1:
        raise ValueError(
            f"need n_rows, n_cols, field sides, panel_px, dpi >= 1; got {n_rows}, {n_cols}, {field_shape}, "
            f"{panel_px}, {dpi}"
        )
    zoom = max(1, round(panel_px / max(H, W)))

    def px(length: float) -> int:
        return max(1, round(length * dpi / 100))

    ph, pw = H * zoom, W * zoom
    label_width, header, title, gap_x, gap_y, margin = px(150), px(46), px(14), px(8), px(10), px(10)
    width = _round_up(label_width + n_cols * pw + (n_cols - 1) * gap_x + margin, 16)
    pitch = title + ph + gap_y
    height = _round_up(header + n_rows * pitch - gap_y + margin, 16)
    cells = tuple(
        tuple((header + r * pitch + title, label_width + c * (pw + gap_x)) for c in range(n_cols))
        for r in range(n_rows)
    )
    return GridLayout(width, height, zoom, (ph, pw), cells, label_width, header)


def _zoom(image: np.ndarray, zoom: int) -> np.ndarray:
    return image if zoom == 1 else np.repeat(np.repeat(image, zoom, axis=0), zoom, axis=1)


def _stretch(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour resize of ``(h, w, 3)`` to ``(height, width, 3)``."""
    rows = np.minimum((np.arange(height) * image.shape[0]) // height, image.shape[0] - 1)
    cols = np.minimum((np.arange(width) * image.shape[1]) // width, image.shape[1] - 1)
    return image[rows][:, cols]


def _text_image(
    plt: Any,
    width: int,
    height: int,
    texts: Sequence[tuple[float, float, str, dict[str, Any]]],
    dpi: int,
) -> np.ndarray:
    """A white ``(height, width, 3)`` uint8 image with ``texts``: ``(x_px, y_px, text, fig.text kwargs)``."""
    fig = plt.figure(figsize=(width / dpi, height / dpi), dpi=dpi, facecolor="white")
    try:
        for x, y, text, kwargs in texts:
            fig.text(x / width, 1.0 - y / height, text, **kwargs)
        fig.canvas.draw()
        rgba = np.asarray(fig.canvas.buffer_rgba())
    finally:
        plt.close(fig)
    out = np.full((height, width, 3), 255, dtype=np.uint8)
    h, w = min(height, rgba.shape[0]), min(width, rgba.shape[1])
    out[:h, :w] = rgba[:h, :w, :3]
    return out


# ---------------------------------------------------------------------------------------------- render


@dataclass
class _Prepared:
    clip: RolloutClip
    coloring: ClipColoring
    realizations: np.ndarray  # (M', T, H, W, 3) uint8
    mean: np.ndarray  # (T, H, W, 3) uint8
    variance: np.ndarray  # (T, H, W, 3) uint8
    spectrum: np.ndarray  # (ph, pw, 3) uint8, stretched to the panel
    time_rows: np.ndarray  # (T, 2): [start, stop) rows of each time step in the spectrum panel


class RolloutGrid:
    """Frames and the contact sheet of a set of operators' rollouts (all with the same T', H, W).

    :param clips: the operators, one grid row each.
    :param channels: ``auto``, ``rgb``, ``pca`` or a channel number (see :class:`ClipColoring`).
    :param cmap: colormap of a single shown channel.
    :param max_realizations: realization columns shown in the animation (the aggregates use all of them).
    :param snapshots: time columns of the contact sheet.
    :param panel_px: about how wide a panel is, in pixels (fields are zoomed by an integer factor).
    :param dpi: resolution of the labels.
    :raises ValueError: no clips, clips of different shapes, bad channels/cmap, non-positive counts.
    :raises MissingDependencyError: matplotlib is not installed.
    """

    def __init__(
        self,
        clips: Sequence[RolloutClip],
        *,
        channels: str | int = "auto",
        cmap: str = "viridis",
        max_realizations: int = 4,
        snapshots: int = 6,
        panel_px: int = 96,
        dpi: int = 100,
    ) -> None:
        if not clips:
            raise ValueError("no rollouts to show")
        if max_realizations < 1 or snapshots < 1:
            raise ValueError(f"need max_realizations, snapshots >= 1, got {max_realizations}, {snapshots}")
        shapes = {c.trajectories.shape for c in clips}
        if len(shapes) != 1:
            raise ValueError(f"rollouts of different shapes cannot share a grid: {sorted(shapes)}")
        M, T, _, H, W = clips[0].trajectories.shape
        self._plt = import_pyplot()
        self.clips = list(clips)
        self.n_frames = int(T)
        self.n_realizations = int(M)
        self.shown_realizations = min(int(M), max_realizations)
        self.dpi = dpi
        self.frame_layout = grid_layout(
            len(clips), self.shown_realizations + 3, (H, W), panel_px=panel_px, dpi=dpi
        )
        self.snapshot_times = sorted({round(t) for t in np.linspace(0, T - 1, min(snapshots, T))})
        self.sheet_layout = grid_layout(
            len(clips), len(self.snapshot_times) + 3, (H, W), panel_px=panel_px, dpi=dpi
        )
        colormap_lut(cmap)  # refuse an unknown colormap even when no single channel is shown
        var_lut, spec_lut = colormap_lut("magma"), colormap_lut("inferno")
        ph, pw = self.frame_layout.panel
        self._prepared = [self._prepare(c, channels, cmap, var_lut, spec_lut, ph, pw) for c in clips]
        self.channel_mode = self._prepared[0].coloring.mode
        self._frame_background = self._background(frame=True)
        self._sheet_background = self._background(frame=False)
        self._time_labels = self._time_label_strip()

    def _prepare(
        self,
        clip: RolloutClip,
        channels: str | int,
        cmap: str,
        var_lut: np.ndarray,
        spec_lut: np.ndarray,
        ph: int,
        pw: int,
    ) -> _Prepared:
        x = clip.trajectories
        coloring = ClipColoring(x, channels, cmap)
        variance = realization_variance(x)
        vmax = float(variance.max())
        var_unit = variance / vmax if vmax > 0 else np.zeros_like(variance)
        power = radial_power(x)[:, 1:]  # shell 0 is the removed mean
        log_power = np.log10(power + 1e-8 * float(power.max(initial=0.0)) + 1e-30)  # at most 8 decades
        if log_power.shape[1] == 0:
            log_power = np.zeros((x.shape[1], 1))
        spec_unit = _unit(log_power, log_power.min(), log_power.max())
        spectrum = _stretch(spec_lut[np.rint(spec_unit * 255).astype(np.intp)], ph, pw)
        T = x.shape[1]
        starts = (np.arange(T) * ph) // T
        stops = np.maximum(((np.arange(T) + 1) * ph) // T, starts + 1)
        return _Prepared(
            clip=clip,
            coloring=coloring,
            realizations=coloring(x[: self.shown_realizations]),
            mean=coloring(x.mean(axis=0)),
            variance=var_lut[np.rint(var_unit * 255).astype(np.intp)],
            spectrum=spectrum,
            time_rows=np.stack([starts, stops], axis=1),
        )

    # -- static chrome ---------------------------------------------------------------------------------

    def _mode_text(self) -> str:
        mode = self.channel_mode
        C = self.clips[0].trajectories.shape[2]
        if mode == "rgb":
            return "channels 0,1,2 → RGB"
        if mode == "pca":
            return f"PCA of {C} channels → RGB"
        return f"channel {mode} of {C}"

    def _background(self, *, frame: bool) -> np.ndarray:
        layout = self.frame_layout if frame else self.sheet_layout
        ph, pw = layout.panel
        px = self.dpi / 100
        M, T = self.n_realizations, self.n_frames
        if frame:
            headings = [f"realization {m}" for m in range(self.shown_realizations)]
            headings += [f"mean of {M}", f"variance of {M}", "spectrum (k→, t↓)"]
            title = f"Rollouts: {len(self.clips)} operators, {T} stored steps, {self._mode_text()}"
        else:
            stride = self.clips[0].stride
            headings = [f"step {t * stride}" for t in self.snapshot_times]
            headings += ["mean (last)", "variance (last)", "spectrum (k→, t↓)"]
            title = f"Realization 0 over time: {len(self.clips)} operators, {self._mode_text()}"
        texts: list[tuple[float, float, str, dict[str, Any]]] = [
            (layout.width / 2, 13 * px, title, {"ha": "center", "va": "center", "fontsize": 11}),
        ]
        first_top = layout.cells[0][0][0]
        for c, heading in enumerate(headings):
            _, left = layout.cells[0][c]
            texts.append(
                (left + pw / 2, first_top - 20 * px, heading, {"ha": "center", "va": "center", "fontsize": 8})
            )
        for r, clip in enumerate(self.clips):
            top, _ = layout.cells[r][0]
            label = f"operator {clip.index}\n{clip.ic_type}\n{clip.status} · {clip.source}"
            texts.append(
                (
                    layout.label_width - 10 * px,
                    top + ph / 2,
                    label,
                    {"ha": "right", "va": "center", "fontsize": 8, "linespacing": 1.3},
                )
            )
        image = _text_image(self._plt, layout.width, layout.height, texts, self.dpi)
        for row in layout.cells:
            for top, left in row:
                image[top - 1 : top + ph + 1, left - 1 : left + pw + 1] = 200
        return image

    def _time_label_strip(self) -> np.ndarray:
        """``(T, h, w, 3)``: the label ``step s (t/T)`` of every frame, drawn in a few tall images."""
        w, h = self.frame_layout.label_width, max(12, round(16 * self.dpi / 100))
        stride = self.clips[0].stride
        T = self.n_frames
        chunk = max(1, 20_000 // h)  # Agg images stay well below their 2^16-pixel side limit
        strips = []
        for start in range(0, T, chunk):
            times = range(start, min(T, start + chunk))
            texts = [
                (
                    w - 10 * self.dpi / 100,
                    (t - start + 0.5) * h,
                    f"step {t * stride} ({t + 1}/{T})",
                    {"ha": "right", "va": "center", "fontsize": 9},
                )
                for t in times
            ]
            strip = _text_image(self._plt, w, h * len(times), texts, self.dpi)
            strips.append(strip.reshape(len(times), h, w, 3))
        return np.concatenate(strips)

    # -- pixels ----------------------------------------------------------------------------------------

    def _paste(self, image: np.ndarray, layout: GridLayout, row: int, col: int, panel: np.ndarray) -> None:
        top, left = layout.cells[row][col]
        ph, pw = layout.panel
        if panel.shape[:2] != (ph, pw):
            panel = _zoom(panel, layout.zoom)
        image[top : top + ph, left : left + pw] = panel

    def frame(self, t: int) -> np.ndarray:
        """Frame ``t`` of the animation, ``(height, width, 3)`` uint8 (see :attr:`frame_layout`)."""
        if not 0 <= t < self.n_frames:
            raise IndexError(f"frame {t} is outside [0, {self.n_frames})")
        layout = self.frame_layout
        image = self._frame_background.copy()
        label = self._time_labels[t]
        y = max(0, layout.cells[0][0][0] - 20 * self.dpi // 100 - label.shape[0] // 2)
        image[y : y + label.shape[0], : label.shape[1]] = label
        pw = layout.panel[1]
        tick = max(3, pw // 12)
        for r, prep in enumerate(self._prepared):
            for m in range(self.shown_realizations):
                self._paste(image, layout, r, m, prep.realizations[m, t])
            k = self.shown_realizations
            self._paste(image, layout, r, k, prep.mean[t])
            self._paste(image, layout, r, k + 1, prep.variance[t])
            spectrum = prep.spectrum.copy()
            start, stop = prep.time_rows[min(t, len(prep.time_rows) - 1)]
            spectrum[start:stop, :tick] = 255
            spectrum[start:stop, -tick:] = 255
            self._paste(image, layout, r, k + 2, spectrum)
        return image

    def frames(self) -> Iterator[np.ndarray]:
        """Every frame in time order."""
        for t in range(self.n_frames):
            yield self.frame(t)

    def contact_sheet(self) -> np.ndarray:
        """The contact sheet, ``(height, width, 3)`` uint8 (see :attr:`sheet_layout`)."""
        layout = self.sheet_layout
        image = self._sheet_background.copy()
        last = self.n_frames - 1
        for r, prep in enumerate(self._prepared):
            for c, t in enumerate(self.snapshot_times):
                self._paste(image, layout, r, c, prep.realizations[0, t])
            k = len(self.snapshot_times)
            self._paste(image, layout, r, k, prep.mean[last])
            self._paste(image, layout, r, k + 1, prep.variance[last])
            self._paste(image, layout, r, k + 2, prep.spectrum)
        return image


# ---------------------------------------------------------------------------------------------- export


def _require_ffmpeg() -> Any:
    try:
        imageio_ffmpeg = importlib.import_module("imageio_ffmpeg")  # ships no type information
    except ImportError as exc:
        raise MissingDependencyError(
            f"MP4 export needs imageio-ffmpeg, which is not installed: {INSTALL_HINT} "
            "(or leave mp4 out of --format)"
        ) from exc
    return imageio_ffmpeg


def _require_pillow() -> Any:
    try:
        from PIL import Image
    except ImportError as exc:  # pragma: no cover - Pillow comes with matplotlib
        raise MissingDependencyError(f"GIF and PNG export need Pillow: {INSTALL_HINT}") from exc
    return Image


def write_mp4(
    path: Path, frames: Iterator[np.ndarray], size: tuple[int, int], fps: float, crf: int = 18
) -> Path:
    """H.264 (libx264, yuv420p) MP4 of ``frames`` ``(height, width, 3)`` uint8; ``size = (width, height)``."""
    imageio_ffmpeg = _require_ffmpeg()
    writer = imageio_ffmpeg.write_frames(
        str(path),
        size,
        fps=fps,
        codec="libx264",
        quality=None,
        pix_fmt_in="rgb24",
        pix_fmt_out="yuv420p",
        macro_block_size=16,
        ffmpeg_log_level="error",
        output_params=["-crf", str(crf)],
    )
    writer.send(None)
    try:
        for frame in frames:
            writer.send(np.ascontiguousarray(frame))
    finally:
        writer.close()
    return path


def write_gif(path: Path, frames: Iterator[np.ndarray], fps: float) -> Path:
    """Looping GIF of ``frames`` (Pillow, an adaptive palette per frame)."""
    Image = _require_pillow()
    images = (Image.fromarray(frame) for frame in frames)
    first = next(images)
    first.save(
        path,
        save_all=True,
        append_images=images,
        duration=max(20, round(1000 / fps)),
        loop=0,
        optimize=False,
    )
    return path


def write_png(path: Path, image: np.ndarray) -> Path:
    """``image`` ``(height, width, 3)`` uint8 as a PNG."""
    Image = _require_pillow()
    Image.fromarray(image).save(path, optimize=True)
    return path


@dataclass(frozen=True)
class RolloutOutputs:
    """What :func:`render_rollouts` wrote: format → path, and the frame count and size."""

    files: dict[str, Path]
    n_frames: int
    frame_size: tuple[int, int]
    sheet_size: tuple[int, int]
    sources: tuple[str, ...]


def parse_formats(text: str | Sequence[str]) -> tuple[str, ...]:
    """``"mp4,gif"`` → ``("mp4", "gif")``; :class:`ValueError` for an unknown or empty list."""
    items = [s.strip().lower() for s in (text.split(",") if isinstance(text, str) else text) if s.strip()]
    unknown = [s for s in items if s not in FORMATS]
    if unknown or not items:
        raise ValueError(f"--format must list some of {', '.join(FORMATS)}, got {text!r}")
    return tuple(dict.fromkeys(items))


def render_rollouts(
    dataset: str | Path,
    indices: Sequence[int] | None,
    output: str | Path,
    *,
    channels: str | int = "auto",
    cmap: str = "viridis",
    formats: Sequence[str] = FORMATS,
    fps: float = 8.0,
    max_realizations: int = 4,
    snapshots: int = 6,
    panel_px: int = 96,
    replay: bool | None = None,
    manager: Any = None,
    progress: ProgressFn | None = None,
) -> RolloutOutputs:
    """Render the chosen operators' rollouts into ``output/rollouts.{mp4,gif,png}``.

    :param dataset: the dataset file.
    :param indices: operator rows, one grid row each, in this order (``None``: the first three).
    :param output: folder for the files (created).
    :param formats: any of ``mp4``, ``gif``, ``png`` (the contact sheet).
    :param fps: animation frames per second.
    :param replay: see :func:`load_rollouts`.
    :param progress: ``progress(stage, done, total)`` after each frame of each file.
    :raises MissingDependencyError: matplotlib (or, for MP4, imageio-ffmpeg) is missing.
    :raises spinlock.core.storage.DatasetError: the file is not a readable Spinlock dataset.
    :raises ValueError: bad indices, channels, formats or counts.
    """
    formats = parse_formats(formats)
    if fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    import_pyplot()
    _require_pillow()
    if "mp4" in formats:
        _require_ffmpeg()
    tick = progress or (lambda _stage, _done, _total: None)
    tick("reading rollouts", 0, 1)
    clips = load_rollouts(dataset, indices, manager=manager, replay=replay)
    tick("reading rollouts", 1, 1)
    grid = RolloutGrid(
        clips,
        channels=channels,
        cmap=cmap,
        max_realizations=max_realizations,
        snapshots=snapshots,
        panel_px=panel_px,
    )
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    T = grid.n_frames

    def counted(stage: str) -> Iterator[np.ndarray]:
        for t, frame in enumerate(grid.frames()):
            yield frame
            tick(stage, t + 1, T)

    files: dict[str, Path] = {}
    layout = grid.frame_layout
    if "mp4" in formats:
        files["mp4"] = write_mp4(
            out / "rollouts.mp4", counted("writing MP4"), (layout.width, layout.height), fps
        )
    if "gif" in formats:
        files["gif"] = write_gif(out / "rollouts.gif", counted("writing GIF"), fps)
    if "png" in formats:
        files["png"] = write_png(out / "rollouts.png", grid.contact_sheet())
        tick("writing PNG", 1, 1)
    return RolloutOutputs(
        files=files,
        n_frames=T,
        frame_size=(layout.width, layout.height),
        sheet_size=(grid.sheet_layout.width, grid.sheet_layout.height),
        sources=tuple(c.source for c in clips),
    )
