"""Matplotlib helpers for SAM prompts and masks, in the spirit of the chapter's plots.

`show_mask`, `show_points` and `show_box` draw on an existing Axes (use them in a notebook);
`save_overlay` writes a figure with every candidate mask side by side, titled with its
score. Figures are built on the Agg canvas directly, not through pyplot, so saving works
without a display and never changes the caller's matplotlib backend.
"""

import numpy as np

from segdata.io.atomic import atomic_write

# SAM's notebook colours: foreground green, background red, masks translucent blue.
MASK_COLOR = (30 / 255, 144 / 255, 1.0, 0.6)
FOREGROUND_COLOR, BACKGROUND_COLOR, BOX_COLOR = "#2ca02c", "#d62728", "#2ca02c"


def show_mask(mask, ax, color=MASK_COLOR):
    """Draw a bool `[H, W]` mask on `ax` as a translucent RGBA layer."""
    mask = np.asarray(mask, dtype=bool)
    layer = np.zeros(mask.shape + (4,), dtype=np.float32)
    layer[mask] = color
    ax.imshow(layer, interpolation="nearest")


def show_points(coords, labels, ax, marker_size=200):
    """Draw `[N, 2]` (x, y) points: label 1 as green stars, label 0 as red stars."""
    coords = np.asarray(coords, dtype=np.float32).reshape(-1, 2)
    labels = np.asarray(labels).reshape(-1)
    for value, color in ((1, FOREGROUND_COLOR), (0, BACKGROUND_COLOR)):
        chosen = coords[labels == value]
        ax.scatter(chosen[:, 0], chosen[:, 1], color=color, marker="*", s=marker_size,
                   edgecolor="white", linewidth=1.25)


def show_box(box, ax):
    """Draw a `[4]` (x0, y0, x1, y1) box outline on `ax`."""
    from matplotlib.patches import Rectangle

    x0, y0, x1, y1 = np.asarray(box, dtype=np.float32).reshape(4).tolist()
    ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, edgecolor=BOX_COLOR,
                           facecolor="none", linewidth=2))


def overlay_figure(image, masks, scores, point_coords=None, point_labels=None, box=None,
                   panel_size=4.0):
    """A matplotlib Figure with one panel per candidate mask.

    Args:
      image: uint8 `[H, W, 3]`.
      masks: bool `[C, H, W]` (or `[H, W]` for one mask).
      scores: float `[C]`, shown in the panel titles.
      point_coords, point_labels, box: the prompts to draw, as given to `predict`.

    Returns:
      A `matplotlib.figure.Figure` attached to an Agg canvas.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    masks = np.asarray(masks, dtype=bool)
    if masks.ndim == 2:
        masks = masks[None]
    scores = np.asarray(scores, dtype=np.float32).reshape(-1)
    if len(scores) != len(masks):
        raise ValueError(f"Got {len(masks)} masks but {len(scores)} scores.")
    height, width = masks.shape[1:]
    aspect = height / max(width, 1)
    fig = Figure(figsize=(panel_size * len(masks), panel_size * aspect + 0.6))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(masks), squeeze=False)[0]
    for i, (ax, mask, score) in enumerate(zip(axes, masks, scores)):
        ax.imshow(image)
        show_mask(mask, ax)
        if point_coords is not None:
            show_points(point_coords, point_labels, ax)
        if box is not None:
            show_box(box, ax)
        ax.set_title(f"mask {i + 1}, score {score:.3f}")
        ax.axis("off")
    fig.tight_layout()
    return fig


def save_overlay(path, image, masks, scores, point_coords=None, point_labels=None, box=None,
                 dpi=100):
    """Save `overlay_figure(...)` as a PNG at `path` (written to a temporary name, then
    renamed, so a crash never leaves a truncated image)."""
    fig = overlay_figure(image, masks, scores, point_coords, point_labels, box)
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=dpi))
