"""What an export folder holds and how a client finds it: `segkit.json` and version folders.

One version of an export is `EXPORT/N/` (all digits, as TensorFlow Serving picks them) holding
either a SavedModel (`saved_model.pb`, metadata in `assets.extra/segkit.json`) or one runtime
file (`model.tflite` or `model.onnx`, metadata in `segkit.json` beside it). Nothing here needs
TensorFlow, so the LiteRT/ONNX clients import it cheaply.
"""

import json
import pathlib

METADATA_FILE = "segkit.json"
FORMATS = ("saved_model", "litert", "onnx")  # `segkit export --format`
QUANTIZATIONS = ("none", "float16", "dynamic", "int8")  # `--quantize`, LiteRT only
DEFAULT_CALIBRATION_IMAGES = 100  # int8 calibration images (Model Garden's export_tflite: 100)
DEFAULT_AGREEMENT_IMAGES = 32  # validation images `segkit export` checks the written file on
# The file in a version folder that holds the model, per export format.
MODEL_FILES = {"saved_model": "saved_model.pb", "litert": "model.tflite", "onnx": "model.onnx"}


def metadata_path(version_dir):
    """Path of the version's segkit.json (SavedModel: in assets.extra/, else beside the file)."""
    version_dir = pathlib.Path(version_dir)
    if (version_dir / MODEL_FILES["saved_model"]).is_file():
        return version_dir / "assets.extra" / METADATA_FILE
    return version_dir / METADATA_FILE


def read_metadata(version_dir):
    """dict: the version's segkit.json (`version_dir/assets.extra/segkit.json` for a SavedModel,
    `version_dir/segkit.json` for a .tflite/.onnx version), or None if the export has none."""
    version_dir = pathlib.Path(version_dir)
    for path in (version_dir / "assets.extra" / METADATA_FILE, version_dir / METADATA_FILE):
        if path.is_file():
            return json.loads(path.read_text())
    return None


def run_dataset(model_file):
    """run.json's "dataset" entry (classes, palette, foreground class) beside a trained model
    file, or {} when the file is not in a run folder."""
    path = pathlib.Path(model_file).resolve().parent / "run.json"
    try:
        return json.loads(path.read_text()).get("dataset") or {}
    except (OSError, ValueError, AttributeError):
        return {}


def version_format(version_dir):
    """"saved_model" | "litert" | "onnx" for a version folder, or None if it holds no model."""
    for name, filename in MODEL_FILES.items():
        if (pathlib.Path(version_dir) / filename).is_file():
            return name
    return None


def find_version_dir(path):
    """Path of the version folder: `path` itself, or its highest version (as Serving picks).

    Raises:
      FileNotFoundError naming `path` when it holds no exported model.
    """
    path = pathlib.Path(path)
    if version_format(path) is not None:
        return path
    versions = sorted((p for p in path.iterdir() if p.name.isdigit() and version_format(p)),
                      key=lambda p: int(p.name)) if path.is_dir() else []
    if not versions:
        raise FileNotFoundError(
            f"{path} is not an export version folder (no saved_model.pb, model.tflite or "
            "model.onnx) and holds no version folders N/; pass EXPORT/N as written by "
            "`segkit export`, or the model file itself."
        )
    return versions[-1]
