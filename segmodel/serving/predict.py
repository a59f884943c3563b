"""Client side of serving: run an exported model on image files, write masks and overlays.

A SavedModel is loaded with `tf.saved_model.load` and called through its `segment_image`
signature, exactly as a server would run it; a .tflite or .onnx file (or a .keras file) runs with
its own runtime through `segmodel.serving.runtimes`.

Per input `<stem>.<ext>` the output folder gets:
    <stem>_mask.png     indexed (palette) PNG at the image's own size. Pixel values ARE the
                        class ids (0 foreground, 1 background, 2 outline for Pets), the palette
                        only makes them visible: `np.array(PIL.Image.open(path))` gives the ids
                        (the Pascal VOC convention). Decoders that expand palettes
                        (tf.io.decode_png) return the colours instead.
    <stem>_overlay.png  figure: the image, the coloured mask with a legend, and both blended.
"""

import json
import pathlib

import numpy as np
import tensorflow as tf
from PIL import Image

from segdata.io.atomic import atomic_write
from segmodel.serving import runtimes
from segmodel.serving.metadata import find_version_dir, palette, read_metadata
from segmodel.serving.signatures import decode_rgb


class PredictError(ValueError):
    """Some inputs could not be segmented; `failures` maps each file to the reason, `results`
    holds the outputs written for the others."""

    def __init__(self, failures, results=()):
        self.failures = dict(failures)
        self.results = list(results)
        lines = "\n".join(f"  {path}: {reason}" for path, reason in self.failures.items())
        super().__init__(f"{len(self.failures)} image(s) could not be segmented:\n{lines}")


def save_mask_png(mask, path, num_classes, colours=None):
    """Writes uint8 [h, w] class ids as an indexed PNG whose palette colours the classes.

    colours: [[r, g, b], ...] per class (the model's metadata "palette"); default tab10.
    """
    image = Image.fromarray(np.asarray(mask, np.uint8), mode="P")
    table = palette(num_classes) if colours is None else np.asarray(colours, np.uint8)
    image.putpalette(table.ravel().tolist())
    atomic_write(path, lambda temp: image.save(temp, format="PNG"))


def save_overlay(image, mask, path, label_names, alpha=0.5, colours=None):
    """Writes a figure of uint8 [h, w, 3] `image`, uint8 [h, w] `mask` and their blend, with a
    legend naming the classes (only those in the mask, past 10 classes)."""
    import matplotlib

    matplotlib.use("Agg")  # files only; never needs a display
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    colours = palette(len(label_names)) if colours is None else np.asarray(colours, np.uint8)
    coloured = colours[np.minimum(mask, len(colours) - 1)]
    blend = ((1 - alpha) * image + alpha * coloured).astype(np.uint8)
    figure, axes = plt.subplots(1, 3, figsize=(12, 4.4))
    for axis, picture, title in zip(axes, (image, coloured, blend), ("image", "mask", "overlay")):
        axis.imshow(picture)
        axis.set_title(title)
        axis.axis("off")
    shown = [i for i in range(len(label_names))
             if len(label_names) <= 10 or np.any(mask == i)]
    figure.legend(handles=[Patch(color=colours[i] / 255, label=f"{i} {label_names[i]}")
                           for i in shown],
                  loc="lower center", ncol=min(len(shown), 6) or 1, frameon=False)
    figure.tight_layout(rect=(0, 0.08, 1, 1))
    try:
        atomic_write(path, lambda temp: figure.savefig(temp, format="png"))
    finally:
        plt.close(figure)


def short_tf_error(error):
    """The human part of a TensorFlow op error: drops graph node and stack trace lines."""
    noise = ("Graph execution error", "Detected at node", "<stack traces unavailable>", "[[{{node")
    lines = [line.strip() for line in str(getattr(error, "message", error)).splitlines()]
    text = " ".join(line for line in lines if line and not line.startswith(noise))
    return text.replace("assertion failed: [", "").rstrip("]") or type(error).__name__


def _check_inputs(image_paths):
    paths = [pathlib.Path(p) for p in image_paths]
    if not paths:
        raise ValueError("No images given: pass at least one --image FILE.")
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"Image file(s) not found: {', '.join(missing)}")
    stems = [p.stem for p in paths]
    clashes = sorted({s for s in stems if stems.count(s) > 1})
    if clashes:
        raise ValueError(f"Several inputs share the name(s) {clashes}; their outputs would "
                         "overwrite each other. Rename them or run them separately.")
    return paths


def load_segmenter(model, *, sliding_window=False, image_size=None):
    """(segment, label names, palette or None) for an exported model or model file.

    segment(encoded bytes) -> (uint8 [h, w, 3] decoded image, uint8 [h, w] mask at its size).
    A SavedModel runs its `segment_image` signature, as a server would; any other model
    (.tflite, .onnx, .keras, or an export version holding one) runs through
    `segmodel.serving.runtimes`: the image resized bilinearly to the input size, class
    probabilities resized bilinearly back, then the arg-max. With `sliding_window`, the model
    runs on overlapping windows of its input size over the photo (resized to `image_size`
    first, when given) and the probabilities are averaged (`segmodel.serving.windows`).
    """
    path = pathlib.Path(model)
    version_dir = find_version_dir(path) if path.is_dir() else None
    if version_dir is not None and (version_dir / "saved_model.pb").is_file():
        served = tf.saved_model.load(str(version_dir))
        metadata = read_metadata(version_dir) or {}
        names = metadata.get("label_names") or ["foreground", "background", "outline"]
        colours = metadata.get("palette")
        colours = colours if colours and len(colours) == len(names) else None
        if sliding_window:
            pixels_fn = served.signatures["predict_pixels"]
            window = metadata.get("input_size") or pixels_fn.structured_input_signature[1][
                "images"].shape[1:3]
            predict = lambda p: pixels_fn(images=tf.constant(p))["probabilities"]  # noqa: E731
            return _window_segmenter(predict, window, image_size), names, colours
        signature = served.signatures["segment_image"]

        def segment(encoded):
            mask = signature(image=tf.constant(encoded))["mask"].numpy()
            # The same decoder as the served graph, so image and mask line up pixel for pixel.
            image = tf.io.decode_image(encoded, channels=3, expand_animations=False).numpy()
            return image, mask

        return segment, names, colours
    runner = runtimes.load_runner(path)
    if sliding_window:
        return (_window_segmenter(runner.probabilities, runner.input_size, image_size),
                runner.classes, runner.palette)

    def segment(encoded):
        image = decode_rgb(tf.constant(encoded)).numpy()
        probabilities = runtimes.probabilities_at(runner, image)
        return image, np.argmax(probabilities, axis=-1).astype(np.uint8)

    return segment, runner.classes, runner.palette


def _window_segmenter(predict, window, image_size):
    """segment(encoded) -> (image, mask) running `predict` (float32 [n, wh, ww, 3] ->
    probabilities) on overlapping windows of the model's input size `window` over the photo
    resized to `image_size` (None: its own size); probabilities averaged, resized bilinearly
    to the photo's size, arg-max."""
    from segmodel.serving import windows
    from segmodel.serving.signatures import resize_for_model

    window = tuple(int(s) for s in window)

    def segment(encoded):
        decoded = decode_rgb(tf.constant(encoded))
        size = tuple(decoded.shape[:2])
        pixels = resize_for_model(decoded, image_size or size)[tf.newaxis]
        probs = windows.sliding_window(predict, pixels.numpy(), window)
        return decoded.numpy(), windows.classes_at(probs, size)[0].numpy()

    return segment


def predict_images(model, image_paths, output_dir, *, sliding_window=False, image_size=None):
    """Segments image files with an exported model and writes masks and overlays.

    Args:
      model: EXPORT/N (or EXPORT, meaning its highest version) holding a SavedModel,
        model.tflite or model.onnx; or a .tflite, .onnx or .keras file (runtime by suffix).
      image_paths: image files (JPEG, PNG, GIF, BMP, WebP; any size, grayscale or RGBA too).
      output_dir: created if missing.
      sliding_window: run the model on overlapping windows of its input size over each photo
        resized to `image_size` (None: its own size), probabilities averaged (for photos much
        larger than the training size); else the `segment_image` signature.

    Returns:
      list of dicts, one per image: {"image", "mask", "overlay": str paths, "size": [h, w],
      "class_fractions": {label: fraction of pixels}}.

    Raises:
      FileNotFoundError for missing images or model (before any work); ValueError for a
      model file its runtime cannot load; PredictError listing every file that could not be
      decoded, after the others were written.
    """
    paths = _check_inputs(image_paths)
    segment, label_names, colours = load_segmenter(model, sliding_window=sliding_window,
                                                   image_size=image_size)
    output_dir = pathlib.Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    results, failures = [], {}
    for path in paths:
        encoded = path.read_bytes()
        try:
            image, mask = segment(encoded)
        except tf.errors.InvalidArgumentError as error:
            failures[str(path)] = short_tf_error(error)
            continue
        mask_path = output_dir / f"{path.stem}_mask.png"
        overlay_path = output_dir / f"{path.stem}_overlay.png"
        save_mask_png(mask, mask_path, len(label_names), colours)
        save_overlay(image, mask, overlay_path, label_names, colours=colours)
        counts = np.bincount(mask.ravel(), minlength=len(label_names))
        results.append({
            "image": str(path), "mask": str(mask_path), "overlay": str(overlay_path),
            "size": list(mask.shape),
            "class_fractions": {n: round(float(c) / mask.size, 4)
                                for n, c in zip(label_names, counts)},
        })
    if failures:
        raise PredictError(failures, results)
    return results


def format_results(results):
    """str: one JSON line per result, for tools to print."""
    return "\n".join(json.dumps(r) for r in results)
