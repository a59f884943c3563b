"""Export a trained Keras model as a versioned SavedModel that TensorFlow Serving can watch.

    export_saved_model("runs/pets/model.keras", "export/pets")  # -> export/pets/1/

Layout of one version (what TF Serving and `tf.saved_model.load` expect):
    EXPORT/N/saved_model.pb, variables/, fingerprint.pb
    EXPORT/N/assets.extra/segkit.json   label names, input size, precision, source, signatures

Signatures (built in `segmodel.serving.signatures`; all outputs float32/uint8/int32 whatever the model's
dtype policy):
    serving_default  images tf.string [N] -> masks uint8 [N, H, W], probabilities float32
                     [N, H, W, C], original_size int32 [N, 2], original_masks uint8
                     [N, max h, max w] (each image's mask at its own size, 255 beyond it)
    segment_image    image tf.string [] -> mask uint8 [h, w] at the image's own size
    predict_pixels   images float32 [N, H, W, 3] 0..255 -> probabilities float32 [N, H, W, C]

A version appears atomically: everything is written into `EXPORT/.tmp-N-<pid>` (Serving only
loads all-digit folder names) and renamed into place at the end, so a server never sees a half
written version, and an interrupted export leaves at most an ignored temp folder.
"""

import datetime
import json
import os
import pathlib
import shutil

import keras
import tensorflow as tf

from segdata.io.fsio import sha256_file
from segmodel.serving import signatures as serving
from segmodel.serving.metadata import METADATA_FILE, run_dataset
from segmodel.serving.metadata import palette as default_palette

METADATA_FORMAT_VERSION = 1


def load_keras_model(path):
    """Loads a model file saved by training (`RUN/model.keras`) for export.

    Args:
      path: str or Path of a `.keras` (or legacy `.h5`) file.

    Returns:
      keras.Model, uncompiled (serving needs no optimizer, loss or metrics).

    Raises:
      FileNotFoundError / ValueError naming the file and what to pass instead.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        hint = " (a folder: pass the model file inside it, e.g. RUN/model.keras)" if (
            path.is_dir()) else ""
        raise FileNotFoundError(f"Keras model file {path} does not exist{hint}.")
    # Importing the model module registers segkit's serializable layers, if any, so files
    # that use them load too.
    import segmodel.models.builtin  # noqa: F401
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as error:  # Keras raises many types for a bad file.
        raise ValueError(
            f"Could not load a Keras model from {path}: {error}. Pass the .keras file written "
            "by training (RUN/model.keras)."
        ) from error


def model_signature(model, image_size=None):
    """Reads input size and class count from the model.

    Args:
      model: keras.Model with one input [B, H, W, 3] and one output [B, H', W', C].
      image_size: (H, W) to use when the model accepts any size (input dims are None).

    Returns:
      ((H, W), C) as Python ints.
    """
    input_shape, output_shape = model.input_shape, model.output_shape
    if isinstance(input_shape, list) or isinstance(output_shape, list):
        raise ValueError(
            f"Expected a model with one image input and one output, got inputs {input_shape} "
            f"and outputs {output_shape}."
        )
    if len(input_shape) != 4 or input_shape[-1] != 3 or len(output_shape) != 4:
        raise ValueError(
            f"Expected input [B, H, W, 3] and output [B, H, W, C], got {input_shape} -> "
            f"{output_shape}."
        )
    size = tuple(input_shape[1:3])
    if image_size is not None:
        image_size = tuple(int(s) for s in image_size)
        if len(image_size) != 2 or min(image_size) < 1:
            raise ValueError(f"image_size must be two positive ints (H, W), got {image_size}.")
        if None not in size and size != image_size:
            raise ValueError(f"image_size={image_size} but the model's input is {size}.")
        size = image_size
    if None in size:
        raise ValueError(
            f"The model accepts any input size ({input_shape}); pass image_size=(H, W), the "
            "size it was trained at."
        )
    if output_shape[-1] is None:
        raise ValueError(f"The model's output {output_shape} has no fixed class count.")
    return (int(size[0]), int(size[1])), int(output_shape[-1])


def describe_precision(model):
    """dict: the dtype policy used by most layers with weights, e.g. "mixed_float16"."""
    names = [layer.dtype_policy.name for layer in model.layers if layer.weights]
    policy = max(set(names), key=names.count) if names else model.dtype_policy.name
    return {
        "dtype_policy": policy,
        "layer_policies": sorted(set(names)),
        "model_output_dtype": str(keras.backend.standardize_dtype(model.outputs[0].dtype)),
        "served_output_dtype": "float32",
    }


def next_version(output_dir):
    """int: one more than the highest all-digit version folder in `output_dir` (1 if none)."""
    output_dir = pathlib.Path(output_dir)
    versions = [int(p.name) for p in output_dir.iterdir() if p.name.isdigit()] if (
        output_dir.is_dir()) else []
    return max(versions, default=0) + 1


def build_archive(model, image_size):
    """(keras.export.ExportArchive holding `model` and the endpoints, {name: tf.function})."""
    archive = keras.export.ExportArchive()
    archive.track(model)
    endpoints = serving.make_endpoints(model, image_size)
    # serving_default first: ExportArchive also aliases its first endpoint as the default.
    for name, fn in endpoints.items():
        archive.add_endpoint(name, fn)
    return archive, endpoints


def _spec_dict(spec):
    return {"dtype": spec.dtype.name, "shape": [None if d is None else int(d) for d in spec.shape]}


def describe_endpoints(endpoints):
    """{name: {"inputs": {arg: spec}, "outputs": {key: spec}}} with dtype names and shapes."""
    result = {}
    for name, fn in endpoints.items():
        concrete = fn.get_concrete_function()
        result[name] = {
            "inputs": {s.name: _spec_dict(s) for s in concrete.structured_input_signature[0]},
            "outputs": {k: _spec_dict(t) for k, t in concrete.structured_outputs.items()},
        }
    return result


def build_metadata(model, image_size, num_classes, label_names, source, version, endpoints=None,
                   palette=None, export_format="saved_model"):
    """dict: segkit.json of an export (the `signatures` entry only when `endpoints` is given)."""
    import segmodel

    dataset = run_dataset(source) if source is not None else {}
    if label_names is None and len(dataset.get("classes") or []) == num_classes:
        label_names = dataset["classes"]
        palette = palette if palette is not None else dataset.get("palette")

    if label_names is None:
        from segdata.records import labels  # the one place that defines what class ids mean

        label_names = (list(labels.LABEL_NAMES) if num_classes == labels.NUM_CLASSES
                       else [f"class_{i}" for i in range(num_classes)])
    if len(label_names) != num_classes:
        raise ValueError(f"{len(label_names)} label names for a model with {num_classes} classes.")
    source_info = None
    if source is not None:
        source = pathlib.Path(source).resolve()
        source_info = {"model": str(source), "run": str(source.parent),
                       "sha256": sha256_file(source)}
    metadata = {
        "format_version": METADATA_FORMAT_VERSION,
        "format": export_format,
        "created_by": f"segkit {segmodel.__version__}",
        "created_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "tensorflow_version": tf.__version__,
        "keras_version": keras.__version__,
        "version": version,
        "source": source_info,
        "model_name": model.name,
        "input_size": list(image_size),
        "num_classes": num_classes,
        "label_names": list(label_names),
        "class_ids": {name: i for i, name in enumerate(label_names)},
        "palette": [list(map(int, c)) for c in (palette or default_palette(num_classes).tolist())],
        "foreground_class": dataset.get("foreground_class",
                                        0 if list(label_names)[:1] == ["foreground"] else None),
        "precision": describe_precision(model),
        "preprocessing": {
            "decode": "tf.io.decode_image(channels=3, expand_animations=False)",
            "resize": "bilinear to input_size, rounded, float32 0..255 (segdata.input.transforms)",
        },
        # What a client does to get a mask at the photo's own size; the SavedModel's
        # original_masks and segment_image do it, a .tflite / .onnx client after the file.
        "postprocessing": {
            "to_original_size": "resize the class probabilities bilinearly (half-pixel centres, "
                                "edges clamped: tf.image.resize, cv2.INTER_LINEAR) to the "
                                "photo's height and width, then take the arg-max",
        },
    }
    if endpoints is not None:
        metadata["signatures"] = describe_endpoints(endpoints)
    return metadata


def claim_target(output_dir, version, overwrite):
    """Validates the version and returns the final folder path (not yet created)."""
    if output_dir.exists() and not output_dir.is_dir():
        raise NotADirectoryError(f"--output-dir {output_dir} is a file; pass a folder.")
    if version is None:
        version = next_version(output_dir)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"version must be a positive integer (TF Serving's folder names), "
                         f"got {version!r}.")
    target = output_dir / str(version)
    if target.exists() and not overwrite:
        raise FileExistsError(
            f"{target} already exists. Pass a new version (default: the next free one, "
            f"{next_version(output_dir)}) or overwrite=True / --overwrite to replace it."
        )
    return version, target


def export_saved_model(model, output_dir, *, version=None, overwrite=False, image_size=None,
                       label_names=None, source=None, palette=None):
    """Exports `model` to `output_dir/<version>/` for TensorFlow Serving.

    Args:
      model: keras.Model (float32 [B, H, W, 3] 0..255 -> softmax [B, H, W, C]) or the path of
        a `.keras` file saved by training.
      output_dir: the model base path a server watches; created if missing.
      version: positive int; default one more than the highest existing version.
      overwrite: replace an existing `output_dir/<version>/`.
      image_size: (H, W), only needed when the model's input size is not fixed.
      label_names: class names in id order; default: the training run's (RUN/run.json
        "dataset", beside a model file), else segdata.records.labels.LABEL_NAMES for 3 classes.
      palette: [[r, g, b], ...] per class for coloured masks; default: the run's, else tab10.
      source: path of the model file, recorded in segkit.json (set automatically when `model`
        is a path).

    Returns:
      pathlib.Path of the written version folder.
    """
    if isinstance(model, (str, os.PathLike)):
        source = model if source is None else source
        if image_size is None:  # a scale-and-crop run's any-size model: its base size
            from segmodel.serving.trained_size import trained_sizes

            image_size = trained_sizes(model)[0]
        model = load_keras_model(model)
    image_size, num_classes = model_signature(model, image_size)
    output_dir = pathlib.Path(output_dir)
    version, target = claim_target(output_dir, version, overwrite)
    output_dir.mkdir(parents=True, exist_ok=True)
    temp = output_dir / f".tmp-{version}-{os.getpid()}"
    shutil.rmtree(temp, ignore_errors=True)
    try:
        archive, endpoints = build_archive(model, image_size)
        archive.write_out(str(temp), verbose=False)
        metadata = build_metadata(model, image_size, num_classes, label_names, source, version,
                                  endpoints, palette)
        (temp / "assets.extra").mkdir(exist_ok=True)
        (temp / "assets.extra" / METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n")
        publish_version(temp, target, overwrite)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    return target


def publish_version(temp, target, overwrite):
    """Renames the finished temp folder to `target`, replacing it when `overwrite`."""
    old = None
    if target.exists() and overwrite:
        old = target.with_name(f".old-{target.name}-{os.getpid()}")
        os.replace(target, old)
    try:
        os.rename(temp, target)
    except OSError as error:
        if old is not None:
            os.replace(old, target)
        raise FileExistsError(
            f"Could not publish {target}: {error}. Another export may have written this version "
            "at the same time; run again (the next free version is picked automatically)."
        ) from error
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
