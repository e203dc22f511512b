"""A picture of every registered initial-condition type: one row per tier, one panel per type.

``spinlock visualize ic-types`` renders it (``docs/images/ic-types.png`` is its output). Layout:

- one row per tier (``baseline`` … ``research_frontiers``), types in registration order, empty slots blank;
- with ``seeds_per_type = S > 1`` each tier gets S consecutive rows, row *k* showing seed *k* of every type
  of the tier (seed *k* is ``derive_seed(seed, k, "ic")``, the same for every type);
- C = 1: a colormap (viridis) on the robustly normalised field; C ≥ 2: channels 0, 1, 2 → R, G, B
  (see :func:`to_rgb`), each normalised on its own.

Images are shown at an integer zoom (``size`` × zoom ≈ 128 px at ``dpi = 100``), nearest-neighbour, so every
grid cell stays visible. matplotlib (the ``viz`` extra) is imported inside :func:`render_ic_gallery` with the
headless Agg backend; this module imports neither matplotlib nor torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: Output suffixes :func:`render_ic_gallery` writes.
SUPPORTED_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg")

#: Percentile clipped at each end by the robust min–max normalisation.
CLIP_PERCENT = 1.0

INSTALL_HINT = "pip install 'spinlock-operators[viz]'"


class MissingDependencyError(RuntimeError):
    """matplotlib (the ``viz`` extra) is not installed."""


def normalise(field: np.ndarray, clip_percent: float = CLIP_PERCENT) -> np.ndarray:
    """Per-channel robust min–max normalisation of a ``(C, H, W)`` field to float32 in [0, 1].

    Each channel is clipped to its [``clip_percent``, 100 − ``clip_percent``] percentiles and scaled linearly,
    so the map is monotone (non-decreasing) per channel, the channel's minimum goes to 0 and its maximum to 1.
    Constant channels map to 0; non-finite values are treated as 0.
    """
    x = np.asarray(field, dtype=np.float64)
    if x.ndim != 3:
        raise ValueError(f"expected a (C, H, W) field, got shape {x.shape}")
    x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
    flat = x.reshape(x.shape[0], -1)
    lo = np.percentile(flat, clip_percent, axis=1)[:, None, None]
    hi = np.percentile(flat, 100.0 - clip_percent, axis=1)[:, None, None]
    span = hi - lo
    safe = np.where(span > 0, span, 1.0)
    out = np.where(span > 0, np.clip((x - lo) / safe, 0.0, 1.0), 0.0)
    return out.astype(np.float32)


def to_rgb(field: np.ndarray, clip_percent: float = CLIP_PERCENT) -> np.ndarray:
    """A ``(C, H, W)`` field as an ``(H, W, 3)`` uint8 image.

    Channels 0, 1, 2 become R, G, B, each through :func:`normalise` (intensity ordering preserved per channel,
    the channel's minimum → 0 and maximum → 255). C = 1 gives grey (the channel in all three); C = 2 leaves
    blue at 0; channels beyond the third are not shown.
    """
    unit = normalise(field, clip_percent)
    if unit.shape[0] == 1:
        unit = np.repeat(unit, 3, axis=0)
    elif unit.shape[0] == 2:
        unit = np.concatenate([unit, np.zeros_like(unit[:1])], axis=0)
    rgb = np.rint(unit[:3] * 255.0).astype(np.uint8)
    return np.ascontiguousarray(rgb.transpose(1, 2, 0))


@dataclass(frozen=True)
class GalleryLayout:
    """Pixel geometry of the gallery figure (origin top-left, as in the saved image).

    :param width: figure width in pixels.
    :param height: figure height in pixels.
    :param panels: ``panels[r][c] = (top, left, side)`` of the image in row ``r``, column ``c``.
    """

    width: int
    height: int
    panels: tuple[tuple[tuple[int, int, int], ...], ...]
    label_width: int
    title_height: int


def gallery_layout(n_rows: int, n_cols: int, *, size: int = 64, dpi: int = 100) -> GalleryLayout:
    """The figure's geometry for ``n_rows`` × ``n_cols`` panels of ``size``² fields at ``dpi``.

    Lengths are defined at 100 dpi and scaled by ``dpi / 100``; all of them are whole pixels, so the saved
    image is exactly ``height`` × ``width`` pixels.
    """
    if n_rows < 1 or n_cols < 1 or size < 1 or dpi < 1:
        raise ValueError(f"need n_rows, n_cols, size, dpi >= 1, got {n_rows}, {n_cols}, {size}, {dpi}")
    zoom = max(1, round(128 / size))

    def px(length_at_100dpi: float) -> int:
        return max(1, round(length_at_100dpi * dpi / 100))

    side = px(size * zoom)
    label_width, header, title, gap_x, gap_y, margin = px(175), px(44), px(18), px(10), px(8), px(10)
    width = label_width + n_cols * side + (n_cols - 1) * gap_x + margin
    row_pitch = title + side + gap_y
    height = header + n_rows * row_pitch - gap_y + margin
    panels = tuple(
        tuple((header + r * row_pitch + title, label_width + c * (side + gap_x), side) for c in range(n_cols))
        for r in range(n_rows)
    )
    return GalleryLayout(width, height, panels, label_width, title)


def ic_specs_by_tier(manager: Any = None) -> list[tuple[str, list[Any]]]:
    """``[(tier_name, [ComponentSpec, ...]), ...]`` for the five tiers, types in registration order.

    Initial conditions whose ``metadata["tier"]`` is not one of the five tiers are left out.
    """
    from spinlock.operators.plugin import TIER_NAMES

    if manager is None:
        from spinlock.core.plugins import build_plugin_manager

        manager = build_plugin_manager()
    tiers: list[list[Any]] = [[] for _ in TIER_NAMES]
    for spec in manager.components["initial_condition"]:
        tier = spec.metadata.get("tier")
        if isinstance(tier, int) and 0 <= tier < len(TIER_NAMES):
            tiers[tier].append(spec)
    return list(zip(TIER_NAMES, tiers, strict=True))


def import_pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend; :class:`MissingDependencyError` without matplotlib."""
    try:
        import matplotlib
    except ImportError as exc:
        raise MissingDependencyError(
            f"the IC gallery needs matplotlib, which is not installed: {INSTALL_HINT}"
        ) from exc
    matplotlib.use("Agg")  # headless; also switches away from an interactive backend
    import matplotlib.pyplot as plt

    return plt


def _panel_image(field: np.ndarray, cmap: Any) -> np.ndarray:
    if field.shape[0] == 1:
        rgba = cmap(normalise(field)[0])
        return np.asarray(np.rint(rgba[..., :3] * 255.0), dtype=np.uint8)
    return to_rgb(field)


def render_ic_gallery(
    output: Path,
    *,
    seeds_per_type: int = 1,
    size: int = 64,
    channels: int = 3,
    seed: int = 0,
    dpi: int = 100,
    manager: Any = None,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Render every registered IC type, one row per tier, to ``output`` and return ``output``.

    :param output: image path (``.png``, ``.pdf``, ``.svg``, ``.jpg``); parent folders are created.
    :param seeds_per_type: seeds shown per type (one row per tier per seed).
    :param size: fields are ``size`` × ``size``.
    :param channels: channels generated (C = 1: colormap; otherwise channels 0–2 as RGB).
    :param seed: root seed; seed *k* of every type is ``derive_seed(seed, k, "ic")``.
    :param dpi: resolution; the image is :func:`gallery_layout`'s ``width`` × ``height`` pixels.
    :param manager: plugin manager to take the ICs from (``build_plugin_manager()`` when ``None``).
    :param progress: called with each type's name after it is generated.
    :raises MissingDependencyError: matplotlib is not installed.
    :raises ValueError: a bad argument.
    """
    output = Path(output)
    if output.suffix.lower() not in SUPPORTED_SUFFIXES:
        raise ValueError(f"{output}: unsupported image type; use one of {', '.join(SUPPORTED_SUFFIXES)}")
    if seeds_per_type < 1 or channels < 1 or seed < 0 or dpi < 1:
        raise ValueError(
            f"need seeds_per_type >= 1, channels >= 1, seed >= 0, dpi >= 1; "
            f"got {seeds_per_type}, {channels}, {seed}, {dpi}"
        )
    if size < 4:
        raise ValueError(f"size must be >= 4, got {size}")
    plt = import_pyplot()
    from spinlock.core.seeding import derive_seeds

    tiers = ic_specs_by_tier(manager)
    n_types = sum(len(specs) for _, specs in tiers)
    if n_types == 0:
        raise ValueError("no initial-condition types with a tier are registered")
    n_cols = max(len(specs) for _, specs in tiers)
    n_rows = len(tiers) * seeds_per_type
    layout = gallery_layout(n_rows, n_cols, size=size, dpi=dpi)
    seeds = derive_seeds(seed, range(seeds_per_type), "ic")
    cmap = plt.get_cmap("viridis")

    fig = plt.figure(figsize=(layout.width / dpi, layout.height / dpi), dpi=dpi, facecolor="white")
    try:
        fig.text(
            0.5,
            1.0 - (layout.panels[0][0][0] - layout.title_height) / 2 / layout.height,
            f"Spinlock initial conditions: {n_types} types in {len(tiers)} tiers "
            f"({size}×{size}, C={channels}, seed={seed}"
            + (f", {seeds_per_type} seeds per type)" if seeds_per_type > 1 else ")"),
            ha="center",
            va="center",
            fontsize=13,
        )
        for t, (tier_name, specs) in enumerate(tiers):
            fields = []
            for spec in specs:
                batch = spec.build()(seeds, channels=channels, height=size, width=size, device="cpu")
                fields.append(batch.detach().cpu().numpy())
                if progress is not None:
                    progress(spec.name)
            for k in range(seeds_per_type):
                r = t * seeds_per_type + k
                top, _, side = layout.panels[r][0]
                label = f"{tier_name}\n(tier {t})" if seeds_per_type == 1 else f"{tier_name}\nseed {k}"
                fig.text(
                    (layout.label_width - 10 * dpi / 100) / layout.width,
                    1.0 - (top + side / 2) / layout.height,
                    label,
                    ha="right",
                    va="center",
                    fontsize=10,
                    fontweight="bold" if k == 0 else "normal",
                )
                for c, spec in enumerate(specs):
                    top, left, side = layout.panels[r][c]
                    ax = fig.add_axes(
                        (
                            left / layout.width,
                            1.0 - (top + side) / layout.height,
                            side / layout.width,
                            side / layout.height,
                        )
                    )
                    ax.imshow(_panel_image(fields[c][k], cmap), interpolation="nearest", aspect="auto")
                    ax.set_xticks([])
                    ax.set_yticks([])
                    for edge in ax.spines.values():
                        edge.set_linewidth(0.5)
                    ax.set_title(spec.name, fontsize=7, pad=2)
        output.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(output, dpi=dpi, facecolor="white")
    finally:
        plt.close(fig)
    return output
