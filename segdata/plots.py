"""Figures of the data: a photo beside its trimap, as in the chapter's Figures 11.3 and 11.4.

Masks are drawn the chapter's way (class id * 127 as gray: foreground black, background gray,
outline white); IGNORE_LABEL pixels (padding) are drawn in a separate colour so they are never
mistaken for a class. PNGs are written to a temporary name and renamed, with matplotlib's Agg
backend, so this works on headless machines.
"""

import pathlib

import numpy as np

from segdata.io.atomic import atomic_write
from segdata.records.labels import IGNORE_LABEL, LABEL_NAMES

_IGNORE_RGB = (0.85, 0.2, 0.6)


def mask_to_rgb(mask, num_classes=len(LABEL_NAMES), palette=None):
    """Class ids [H, W] or [H, W, 1] (int) -> float32 RGB [H, W, 3] in 0..1 for display.

    palette: [[r, g, b], ...] 0..255 per class (the manifest's "palette"); None draws Pets'
    gray levels (0, 0.5, 1), as the chapter's figures do.
    """
    mask = np.asarray(mask)
    if mask.ndim == 3:
        mask = mask[..., 0]
    if palette is not None:
        lut = np.zeros((256, 3), np.float32)
        lut[:len(palette)] = np.asarray(palette, np.float32) / 255.0
        lut[IGNORE_LABEL] = _IGNORE_RGB
        return lut[np.clip(mask, 0, 255).astype(np.int64)]
    gray = np.clip(mask.astype(np.float32) / max(num_classes - 1, 1), 0.0, 1.0)
    rgb = np.repeat(gray[..., None], 3, axis=-1)
    rgb[mask == IGNORE_LABEL] = _IGNORE_RGB
    return rgb


def plot_image_and_mask(image, mask, output, *, title=None, titles=("Image", "Mask"),
                        classes=None, palette=None):
    """Draw an image beside one or more masks into a PNG.

    Args:
      image: uint8 or float [H, W, 3], values 0..255 (what `load_dataset` yields).
      mask: class ids, int [H, W] or [H, W, 1] (0..2 or IGNORE_LABEL); or a list of such masks
        (e.g. [truth, prediction]), drawn left to right after the image.
      output: PNG path; parent folders are created.
      title: optional figure title. titles: one panel title per panel.
      classes, palette: the dataset's class names and colours (manifest "classes" and
        "palette"); the legend then names the classes drawn. None: Pets' three gray levels.

    Returns:
      pathlib.Path of the written PNG.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    masks = mask if isinstance(mask, (list, tuple)) else [mask]
    if len(titles) != 1 + len(masks):
        titles = ("Image",) + tuple(f"Mask {i + 1}" for i in range(len(masks)))
    image = np.clip(np.asarray(image, dtype=np.float32) / 255.0, 0.0, 1.0)
    # A Figure without pyplot keeps no global state: safe in threads and callbacks.
    fig = Figure(figsize=(4.2 * (1 + len(masks)), 4.4))
    axes = fig.subplots(1, 1 + len(masks), squeeze=False)[0]
    for ax, data, name in zip(axes, [image] + [mask_to_rgb(m, palette=palette) for m in masks],
                              titles):
        ax.imshow(data, interpolation="nearest")
        ax.set_title(name)
        ax.axis("off")
    if palette is not None:
        shown = sorted(set(np.unique(np.concatenate([np.ravel(m) for m in masks])).tolist())
                       - {IGNORE_LABEL})
        names = classes or [f"class {i}" for i in range(len(palette))]
        legend = [Patch(facecolor=np.asarray(palette[i], np.float32) / 255.0, edgecolor="k",
                        label=names[i]) for i in shown if i < len(palette)]
    else:
        legend = [Patch(facecolor=str(v), edgecolor="k", label=n)
                  for n, v in zip(LABEL_NAMES, (0.0, 0.5, 1.0))]
    if any(np.any(np.asarray(m) == IGNORE_LABEL) for m in masks):
        legend.append(Patch(facecolor=_IGNORE_RGB, edgecolor="k", label="ignored (padding)"))
    fig.legend(handles=legend, loc="lower center", ncol=min(len(legend), 6) or 1, frameon=False)
    if title:
        fig.suptitle(title)
    fig.subplots_adjust(bottom=0.1)
    output = pathlib.Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(output, lambda tmp: fig.savefig(tmp, dpi=100, bbox_inches="tight"))


def show_sample(records, split, index=0, output="sample.png", *, image_size=None,
                resize="stretch"):
    """Draw example `index` of `split` (photo beside trimap) into a PNG.

    Args:
      records: folder holding manifest.json. split: e.g. "train". index: position in the split
        (manifest order, as `load_dataset(shuffle=False)` yields it).
      output: PNG path.
      image_size: None draws the stored resolution (the chapter's Figures 11.3-11.4);
        (H, W) draws the example as the model sees it through `load_dataset`.
      resize: "stretch" or "pad", used with image_size.

    Returns:
      pathlib.Path of the written PNG.
    """
    from segdata.input import pipeline, shard_reader

    image, mask, name = shard_reader.read_example(records, split, index)
    if image_size is not None:
        ds = pipeline.load_dataset(records, split, image_size=image_size, batch_size=1,
                                   resize=resize)
        images, masks = next(iter(ds.skip(index).take(1)))
        image, mask = images[0].numpy(), masks[0].numpy()
    size = f"{image.shape[0]}x{image.shape[1]}"
    from segdata.records.manifest import read_manifest

    manifest = read_manifest(records)
    colours = {}
    if manifest.get("format", "pets") != "pets":  # Pets keeps the chapter's gray levels
        colours = {"classes": manifest.get("classes"), "palette": manifest.get("palette")}
    return plot_image_and_mask(image, mask, output, title=f"{split}[{index}]: {name} ({size})",
                               **colours)
