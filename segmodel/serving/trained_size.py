"""The sizes a model was trained at, from the run folder next to its file (RUN/run.json).

Scale-and-crop runs (`segkit train --crop-size`) save a U-Net that takes any size: export,
evaluation and prediction then use the run's base size (`--image-size`) unless told otherwise,
and sliding windows use its crop size.
"""

import json
import pathlib

RUN_FILE = "run.json"


def trained_sizes(model_path):
    """(image_size (H, W) or None, crop_size (H, W) or None) recorded in the run.json beside
    `model_path` (RUN/model.keras); (None, None) when there is none or it says nothing."""
    if model_path is None:
        return None, None
    path = pathlib.Path(model_path)
    run = (path if path.is_dir() else path.parent) / RUN_FILE
    try:
        options = json.loads(run.read_text()).get("options", {})
    except (OSError, ValueError, AttributeError):
        return None, None
    sizes = []
    for key in ("image_size", "crop_size"):
        value = options.get(key)
        ok = isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) for v in value)
        sizes.append(tuple(value) if ok else None)
    return tuple(sizes)
