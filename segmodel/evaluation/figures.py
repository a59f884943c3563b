"""Evaluation figures: the confusion matrix (counts and row-normalised) and the worst images.

Figures are matplotlib `Figure`s without pyplot (no global state) written atomically as PNG.
"""

import io
import pathlib

import numpy as np

from segdata.io.atomic import atomic_write
from segdata.plots import mask_to_rgb


def _figure(*args, **kwargs):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    return Figure(*args, **kwargs)


def _save(fig, path):
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=100, bbox_inches="tight"))


def plot_confusion(matrix, label_names, path):
    """Row-normalised confusion matrix (rows = truth) with each cell's share and pixel count."""
    matrix = np.asarray(matrix, np.int64)
    names = label_names or [f"class {i}" for i in range(len(matrix))]
    rows = matrix.sum(1, keepdims=True)
    share = np.divide(matrix, rows, out=np.zeros(matrix.shape), where=rows > 0)
    side = min(len(names), 24)  # past ~24 classes the cells shrink instead of the figure growing
    fig = _figure(figsize=(1.6 * side + 2.5, 1.4 * side + 1.5))
    ax = fig.subplots()
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, label="share of the true class's pixels")
    for (i, j), value in np.ndenumerate(share if len(names) <= 12 else np.zeros((0, 0))):
        ax.text(j, i, f"{value:.1%}\n{matrix[i, j]:,}", ha="center", va="center",
                color="white" if value > 0.5 else "black", fontsize=9)
    ax.set_xticks(range(len(names)), names, rotation=90 if len(names) > 6 else 0)
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("Confusion matrix (rows = truth)")
    return _save(fig, path)


def _decode(encoded):
    from PIL import Image

    with Image.open(io.BytesIO(encoded)) as img:
        return np.asarray(img.convert("RGB"))


def plot_worst(items, path, classes=None, palette=None, score_name="fg IoU"):
    """One row per image: the photo, the true mask and the prediction.

    Args:
      items: [(record name, foreground IoU, encoded image bytes, truth uint8 [h, w],
        prediction uint8 [h, w])], worst first; masks at the scored size.
      classes, palette: the dataset's names and colours (None: Pets' gray levels).
    """
    from matplotlib.patches import Patch

    fig = _figure(figsize=(10, 3.2 * len(items)))
    axes = fig.subplots(len(items), 3, squeeze=False)
    for row, (where, score, encoded, truth, pred) in zip(axes, items):
        image = _decode(encoded)
        for ax, data, title in zip(row, (image, mask_to_rgb(truth, palette=palette),
                                         mask_to_rgb(pred, palette=palette)),
                                   (where.rsplit(": ", 1)[-1], "true mask",
                                    f"prediction ({score_name} {score:.3f})")):
            ax.imshow(data, interpolation="nearest")
            ax.set_title(title, fontsize=9)
            ax.axis("off")
    if palette is not None and classes:
        shown = sorted({int(v) for _, _, _, t, p in items for v in np.unique(np.concatenate(
            [t.ravel(), p.ravel()])) if v < len(palette)})
        fig.legend(handles=[Patch(facecolor=np.asarray(palette[i]) / 255.0, edgecolor="k",
                                  label=classes[i]) for i in shown],
                   loc="lower center", ncol=min(len(shown), 6) or 1, frameon=False)
    return _save(fig, path)
