"""Training figures: the chapter's loss curves (Fig. 11.5) and a prediction panel (Fig. 11.6).

Both functions write a PNG atomically (temporary name, then rename) and return its path. They use
matplotlib's Agg backend so they work on headless training machines.
"""

import os

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path):
    plt = _pyplot()
    tmp = f"{path}.tmp.png"
    fig.savefig(tmp, dpi=100, bbox_inches="tight")
    plt.close(fig)
    os.replace(tmp, path)
    return path


def plot_loss(history, path):
    """Training and validation loss per epoch, styled like the chapter ("bo" vs "b").

    Args:
      history: list of dicts with "epoch" (0-based), "loss" and "val_loss" (history.csv rows), or
        a dict of lists like `History.history`.
      path: output PNG path.
    """
    if isinstance(history, dict):
        n = len(history["loss"])
        history = [
            {"epoch": i, "loss": history["loss"][i], "val_loss": history["val_loss"][i]}
            for i in range(n)
        ]
    if not history:
        raise ValueError("no finished epoch to plot: the history is empty")
    epochs = [row["epoch"] + 1 for row in history]
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(epochs, [row["loss"] for row in history], "bo", label="Training loss")
    ax.plot(epochs, [row.get("val_loss", np.nan) for row in history], "b", label="Validation loss")
    ax.set_title("Training and validation loss")
    ax.set_xlabel("Epochs")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("Loss")
    ax.legend()
    return _save(fig, path)


def _mask_image(mask, num_classes, ignore_label):
    """int [H, W] class ids -> float [H, W] gray levels; ignored pixels become NaN (drawn blank)."""
    mask = np.asarray(mask).astype(np.float32)
    shown = mask / max(num_classes - 1, 1)
    return np.where(mask == ignore_label, np.nan, shown)


def plot_prediction(image, true_mask, probabilities, path, ignore_label=255, title=None):
    """A validation image, its true mask and the model's predicted mask side by side.

    Args:
      image: float or uint8 [H, W, 3], values 0..255.
      true_mask: int [H, W] or [H, W, 1], class ids 0..C-1 or ignore_label.
      probabilities: float [H, W, C] model output (argmax gives the predicted mask).
      path: output PNG path.
    """
    probabilities = np.asarray(probabilities)
    num_classes = probabilities.shape[-1]
    predicted = probabilities.argmax(axis=-1)
    true_mask = np.asarray(true_mask).reshape(predicted.shape)
    plt = _pyplot()
    # Ignored (padded) pixels must not look like the white outline.
    gray = plt.get_cmap("gray").with_extremes(bad="#cc4444")
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.6))
    panels = [
        ("Image", np.clip(np.asarray(image, dtype=np.float32) / 255.0, 0, 1), None),
        ("True mask", _mask_image(true_mask, num_classes, ignore_label), gray),
        ("Predicted mask", _mask_image(predicted, num_classes, ignore_label), gray),
    ]
    for ax, (name, data, cmap) in zip(axes, panels):
        ax.imshow(data, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(name)
        ax.axis("off")
    if title:
        fig.suptitle(title)
    if num_classes == 3:  # the Pets trimap classes, in the chapter's gray levels
        fig.text(0.5, 0.02, "black: foreground   gray: background   white: outline"
                 "   red: ignored", ha="center", fontsize=9)
    return _save(fig, path)
