"""Write one SAM prediction to a folder: mask.png, overlay.png and masks.json."""

import pathlib

import numpy as np

from segmodel.sam.prompting import files, visualize


def save_results(output_dir, image, masks, scores, prompts, metadata=None):
    """Save a prediction for people (overlay.png) and for programs (mask.png, masks.json).

    Args:
      output_dir: folder to write into (created if missing).
      image: uint8 `[H, W, 3]`, the photo that was prompted.
      masks: bool `[C, H, W]`, sorted best first (as `SamPredictor.predict` returns them).
      scores: float32 `[C]`.
      prompts: a `segmodel.sam.Prompts` (points, labels, box in image pixels).
      metadata: optional dict merged into masks.json (e.g. the preset and image path).

    Returns:
      dict of the written paths: {"mask": ..., "overlay": ..., "json": ...}.

    mask.png is the best mask at the image's size (0 / 255). masks.json is written last,
    so its presence means the other two files are complete.
    """
    out = pathlib.Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    masks = np.asarray(masks, dtype=bool)
    scores = np.asarray(scores, dtype=np.float32).reshape(-1)
    paths = {"mask": out / "mask.png", "overlay": out / "overlay.png", "json": out / "masks.json"}
    # A masks.json left by an earlier run must not vouch for files this run may not finish.
    paths["json"].unlink(missing_ok=True)
    files.save_mask_png(paths["mask"], masks[0])
    visualize.save_overlay(paths["overlay"], image, masks, scores, prompts.points,
                           prompts.labels, prompts.box)
    summary = dict(metadata or {})
    summary.update({
        "image_size": [int(image.shape[0]), int(image.shape[1])],
        "prompts": prompts.to_dict(),
        "best": 0,
        "masks": [
            {"rank": i, "score": float(s), "area": int(m.sum())}
            for i, (m, s) in enumerate(zip(masks, scores))
        ],
        "scores": [float(s) for s in scores],
        "files": {"mask": paths["mask"].name, "overlay": paths["overlay"].name},
    })
    files.save_json(paths["json"], summary)
    return {k: str(v) for k, v in paths.items()}
