"""Training figures: the chapter's loss curves (Fig. 11.5) and a prediction panel (Fig. 11.6).

Both functions write a PNG atomically (temporary name, then rename) and return its path. They use
matplotlib's Agg backend so they work on headless training machines.
"""

import numpy as np

from segdata.io.atomic import atomic_write


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path):
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=100, bbox_inches="tight"))
    _pyplot().close(fig)
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


def plot_prediction(image, true_mask, probabilities, path, title=None, classes=None,
                    palette=None):
    """A validation image, its true mask and the model's predicted mask side by side.

    Drawn by segdata's image-and-mask figure, so training figures and data figures share one
    colour convention (ignored padding included).

    Args:
      image: float or uint8 [H, W, 3], values 0..255.
      true_mask: int [H, W] or [H, W, 1], class ids 0..C-1 or the ignore label.
      probabilities: float [H, W, C] model output (argmax gives the predicted mask).
      path: output PNG path.
      classes, palette: the dataset's class names and colours (None: Pets' gray levels).
    """
    from segdata.plots import plot_image_and_mask

    predicted = np.asarray(probabilities).argmax(axis=-1)
    true_mask = np.asarray(true_mask).reshape(predicted.shape)
    return plot_image_and_mask(image, [true_mask, predicted], path, title=title,
                               titles=("Image", "True mask", "Predicted mask"),
                               classes=classes, palette=palette)
