"""Write one text-prompted SAM 3 result to a folder: the union mask, one mask per instance,
an overlay with boxes and scores, and masks.json (written last: its presence means the
other files are complete)."""

import pathlib

import numpy as np

from segdata.io.atomic import atomic_write
from segmodel.sam.prompting import files, visualize


def union_mask(instances, image_size):
    """bool `[H, W]`: the pixels in any instance's mask (all False for no instances)."""
    union = np.zeros(tuple(image_size), dtype=bool)
    for inst in instances:
        union |= inst.mask
    return union


def instances_figure(image, instances, panel_size=6.0):
    """A matplotlib Figure: the photo, every instance's mask in its own colour, its box and
    "text score" label. Built on an Agg canvas (no pyplot, no display needed)."""
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    height, width = image.shape[:2]
    fig = Figure(figsize=(panel_size, panel_size * height / max(width, 1) + 0.5))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.imshow(image)
    colours = colormaps["tab10"]
    for i, inst in enumerate(instances):
        colour = colours(i % 10)
        visualize.show_mask(inst.mask, ax, color=colour[:3] + (0.5,))
        x0, y0, x1, y1 = (float(v) for v in inst.box)
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, edgecolor=colour,
                               facecolor="none", linewidth=2))
        label = f"{inst.text} {inst.score:.2f}" if inst.text else f"{inst.score:.2f}"
        ax.text(x0, y0, label, color="white", fontsize=9, va="bottom",
                bbox=dict(facecolor=colour, alpha=0.8, pad=1, edgecolor="none"))
    ax.set_title(f"{len(instances)} instance(s)")
    ax.axis("off")
    fig.tight_layout()
    return fig


def save_text_results(output_dir, image, instances, metadata=None):
    """Save a text-prompted prediction for people and programs.

    Args:
      output_dir: folder to write into (created if missing).
      image: uint8 `[H, W, 3]`, the photo.
      instances: `TextInstance`s, best first (as `TextSegmenter.segment` returns them).
      metadata: optional dict merged into masks.json (preset, image path, texts, ...).

    Writes mask.png (the union of the instances, 0/255, at the image's size; all 0 when
    nothing was found), mask_000.png, mask_001.png, ... (one per instance, in the order of
    masks.json), overlay.png and masks.json.

    Returns:
      dict of the written paths: "mask", "overlay", "json" and "instances" (a list).
    """
    out = pathlib.Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "masks.json"
    # A masks.json left by an earlier run must not vouch for files this run may not finish,
    # nor may instance masks of an earlier run with more instances linger beside it.
    json_path.unlink(missing_ok=True)
    for stale in out.glob("mask_[0-9][0-9][0-9].png"):
        stale.unlink()
    paths = {"mask": out / "mask.png", "overlay": out / "overlay.png", "json": json_path,
             "instances": [out / f"mask_{i:03d}.png" for i in range(len(instances))]}
    files.save_mask_png(paths["mask"], union_mask(instances, image.shape[:2]))
    for path, inst in zip(paths["instances"], instances):
        files.save_mask_png(path, inst.mask)
    fig = instances_figure(image, instances)
    atomic_write(paths["overlay"], lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    summary = dict(metadata or {})
    summary.update({
        "image_size": [int(image.shape[0]), int(image.shape[1])],
        "instances": [dict(inst.to_dict(), rank=i, file=p.name)
                      for i, (inst, p) in enumerate(zip(instances, paths["instances"]))],
        "files": {"mask": paths["mask"].name, "overlay": paths["overlay"].name},
    })
    files.save_json(json_path, summary)
    return {"mask": str(paths["mask"]), "overlay": str(paths["overlay"]),
            "json": str(json_path), "instances": [str(p) for p in paths["instances"]]}
