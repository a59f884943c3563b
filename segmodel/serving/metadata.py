"""What an export says about itself: the `segkit.json` beside every exported model (class
names, palette, input size, signatures, source), where an export's newest version is, and the
default class colours.

Both sides read this module: the exporter (`export`) writes the metadata and the client
(`predict`, evaluation) reads it, so neither imports the other.
"""

import json
import pathlib

import numpy as np

METADATA_FILE = "segkit.json"


def read_metadata(version_dir):
    """dict: `version_dir/assets.extra/segkit.json`, or None if the export has none."""
    path = pathlib.Path(version_dir) / "assets.extra" / METADATA_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def find_version_dir(path):
    """Path of the SavedModel folder: `path` itself, or its highest version (as Serving picks).

    Raises:
      FileNotFoundError naming `path` when it holds no SavedModel.
    """
    path = pathlib.Path(path)
    if (path / "saved_model.pb").is_file():
        return path
    versions = sorted((p for p in path.iterdir() if p.name.isdigit() and
                       (p / "saved_model.pb").is_file()), key=lambda p: int(p.name)) if (
        path.is_dir()) else []
    if not versions:
        raise FileNotFoundError(
            f"{path} is not a SavedModel folder (no saved_model.pb) and holds no version "
            "folders; pass EXPORT/N as written by tools/export.py."
        )
    return versions[-1]


def palette(num_classes):
    """uint8 [num_classes, 3] distinct colours (matplotlib's tab10), class id -> RGB."""
    import matplotlib

    colours = matplotlib.colormaps["tab10"].colors
    return (np.array([colours[i % len(colours)] for i in range(num_classes)]) * 255).astype(
        np.uint8)
