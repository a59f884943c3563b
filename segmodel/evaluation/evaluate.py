"""Score a trained model on a record split: IoU, pixel accuracy, boundary F-score, worst images.

    evaluate("runs/pets/model.keras", "records", split="validation", output_dir="eval")
    evaluate("export/pets/1", "records", at="original")       # a SavedModel, served bytes in
    evaluate("export/lite/1/model.tflite", "records")         # LiteRT / ONNX: own runtime

A `.keras` file runs through Keras on the input pipeline's tensors (`segdata.load_dataset`'s
decode and resize); a SavedModel version folder runs through its `serving_default` signature on
the records' encoded image bytes, as a server would. Both see the same pixels, so they give the
same numbers for the same model.

Masks are scored at the model's input size (`at="input"`, the chapter's way: the true mask is
resized with nearest like the training targets) or at each image's own size (`at="original"`:
class probabilities resized bilinearly to it, then the arg-max, as Model Garden and
mmsegmentation score; `segmodel.serving.windows`). `sliding_window=True` runs the model on
overlapping windows of its input size and averages the probabilities.

Streaming: batches go through the model one at a time; only the confusion matrix, one F-score
per image and the K worst images are kept, so memory does not grow with the split.
"""

import heapq
import math
import pathlib

import numpy as np
import tensorflow as tf

from segdata.input import shard_reader, transforms
from segdata.records.labels import IGNORE_LABEL, dataset_classes, label_table, to_train_ids
from segdata.records.manifest import read_manifest
from segmodel.evaluation.boundary import boundary_f1
from segmodel.serving import windows
from segmodel.training import metrics

AT_CHOICES = ("input", "original")
BOUNDARY_TOLERANCE = 2  # pixels, as the DAVIS benchmark's F measure at its default


def load_model(path, image_size=None, sliding_window=False):
    """(predict function, (H, W), num_classes, kind, window) for a `.keras` file, a SavedModel
    folder or a `.tflite` / `.onnx` file (kind "litert" / "onnx", run by its own runtime).

    predict(batch) -> float32 [N, H, W, C] class probabilities at the inference size (H, W),
    where batch is the dict made by `_examples` (the Keras model reads "pixels", the
    SavedModel "encoded"; with `sliding_window` both read "pixels" window by window). (H, W) is
    `image_size`, else the model's input size, else (a model that takes any size) the base size
    its run.json recorded. `window` is the model's input size, or the run's crop size.
    """
    from segmodel.serving.export import load_keras_model, model_signature
    from segmodel.serving.metadata import find_version_dir, read_metadata, version_format
    from segmodel.serving.trained_size import trained_sizes

    path = pathlib.Path(path)
    if path.suffix.lower() in (".tflite", ".onnx") or (
            path.is_dir() and version_format(find_version_dir(path)) in ("litert", "onnx")):
        return _runtime_model(path, image_size, sliding_window)
    if path.suffix in (".keras", ".h5") or path.is_file():
        model = load_keras_model(path)
        fixed = None not in tuple(model.input_shape[1:3])
        run_size, run_crop = trained_sizes(path)
        if fixed:
            window, num_classes = model_signature(model)
        else:
            window, num_classes = model_signature(model, run_crop or image_size or run_size)
        size = tuple(image_size) if image_size is not None else (
            window if fixed else (run_size or window))
        if fixed and size != window and not sliding_window:
            model_signature(model, size)  # raises naming both sizes

        def run(pixels):
            return model.predict_on_batch(pixels)

        if sliding_window:
            return (lambda batch: windows.sliding_window(run, batch["pixels"], window),
                    size, num_classes, "keras", window)
        return lambda batch: run(batch["pixels"]), size, num_classes, "keras", window
    version = find_version_dir(path)
    served = tf.saved_model.load(str(version))
    meta = read_metadata(version) or {}
    if "serving_default" not in served.signatures:
        raise ValueError(f"{version} has no serving_default signature; export it with "
                         f"tools/export.py")
    signature = served.signatures["serving_default"]
    window = meta.get("input_size") or signature.structured_outputs["masks"].shape[1:3]
    window = tuple(int(s) for s in window)
    size = window if image_size is None else tuple(int(s) for s in image_size)
    if size != window and not sliding_window:
        raise ValueError(f"--image-size {size} but {version} takes {window} images (add "
                         "--sliding-window to run it on windows of a larger image)")
    num_classes = int(meta.get("num_classes") or signature.structured_outputs[
        "probabilities"].shape[-1])

    if sliding_window:
        pixels_fn = served.signatures["predict_pixels"]

        def run(pixels):
            return pixels_fn(images=tf.constant(pixels))["probabilities"].numpy()

        return (lambda batch: windows.sliding_window(run, batch["pixels"], window), size,
                num_classes, "saved_model", window)

    def predict(batch):
        return signature(images=tf.constant(batch["encoded"]))["probabilities"].numpy()

    return predict, size, num_classes, "saved_model", window


def _runtime_model(path, image_size, sliding_window=False):
    """load_model for a .tflite / .onnx file (or a version folder holding one): its own runtime
    (segmodel.serving.runtimes) on the pipeline's pixels, like the Keras model."""
    from segmodel.serving.runtimes import load_runner

    runner = load_runner(path)
    window = tuple(int(s) for s in runner.input_size)
    size = window if image_size is None else tuple(int(s) for s in image_size)
    if size != window and not sliding_window:
        raise ValueError(f"--image-size {size} but {runner.path} takes {window} images (add "
                         "--sliding-window to run it on windows of a larger image)")
    if sliding_window:
        return (lambda batch: windows.sliding_window(runner.probabilities, batch["pixels"],
                                                     window),
                size, runner.num_classes, runner.kind, window)
    return (lambda batch: runner.probabilities(batch["pixels"]), size, runner.num_classes,
            runner.kind, window)


def _examples(records, split, image_size, batch_size):
    """Batches of dicts: encoded bytes, model pixels and mask at input size, original mask.

    "pixels" float32 [N, H, W, 3] and "mask" uint8 [N, H, W] are exactly what `load_dataset`
    yields (stretch resize); "original" uint8 [N, h_max, w_max] is padded with IGNORE_LABEL and
    "size" int64 [N, 2] gives each image's own (h, w).
    """
    manifest = read_manifest(records)
    shards = shard_reader.shard_list(records, manifest, split)  # names a missing/truncated shard
    compression = {"none": "", "gzip": "GZIP"}[manifest.get("compression", "none")]
    table = label_table(manifest)
    files = tf.data.Dataset.from_tensor_slices((tf.constant([p for p, _ in shards], tf.string),
                                                tf.constant([n for _, n in shards], tf.int64),
                                                tf.zeros([len(shards)], tf.int64)))
    ds = shard_reader.read_shards(files, compression).unbatch()

    def decode(example):
        image, trimap = transforms.decode_pair(example["image"], example["mask"],
                                               example["where"])
        pixels, mask = transforms.resize_pair(image, trimap, image_size, "stretch", table)
        return {"encoded": example["image"], "where": example["where"],
                "pixels": tf.cast(pixels, tf.float32), "mask": mask[..., 0],
                "original": to_train_ids(trimap, table)[..., 0],
                "size": tf.shape(image, out_type=tf.int64)[:2]}

    ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE)
    pads = {"encoded": "", "where": "", "pixels": 0.0, "mask": np.uint8(IGNORE_LABEL),
            "original": np.uint8(IGNORE_LABEL), "size": np.int64(0)}
    ds = ds.padded_batch(batch_size, padding_values=pads).prefetch(tf.data.AUTOTUNE)
    return ds, sum(n for _, n in shards), manifest


def _to_original(probabilities, sizes, shape):
    """float [N, H, W, C] -> uint8 [N, *shape] class ids: per image the probabilities resized
    bilinearly to its own size `sizes[i]`, then the arg-max; padded with 255."""
    out = np.full((len(probabilities), *shape), IGNORE_LABEL, np.uint8)
    for i, (probs, (h, w)) in enumerate(zip(probabilities, sizes)):
        out[i, :h, :w] = windows.classes_at(probs, (int(h), int(w))).numpy()
    return out


def _foreground_iou(truth, pred, foreground=metrics.FOREGROUND_CLASS):
    keep = truth != IGNORE_LABEL
    t, p = (truth == foreground) & keep, (pred == foreground) & keep
    union = np.sum(t | p)
    return float(np.sum(t & p) / union) if union else math.nan


def _image_mean_iou(truth, pred, num_classes):
    """Mean IoU over the classes present in this image's truth or prediction (NaN if none)."""
    confusion = metrics.confusion_matrix(truth, pred, num_classes)
    present = (confusion.sum(0) + confusion.sum(1)) > 0
    per_class = metrics.iou_from_confusion(confusion)
    return float(np.nanmean(per_class[present])) if present.any() else math.nan


def evaluate(model, records, *, split="validation", image_size=None, batch_size=16, at="input",
             worst=0, output_dir=None, progress=True, sliding_window=False):
    """Scores `model` on `records`/`split`; writes metrics.json and figures when output_dir.

    Args:
      model: path of a `.keras` file (RUN/model.keras), a `.tflite` or `.onnx` file, or an
        export folder (EXPORT/N or EXPORT, whose highest version is used).
      records: folder written by tools/build_records.py.
      image_size: (H, W) to run the model at: for a model that accepts any size (default: its
        run's base size), or with `sliding_window` any size (windows of the model's size).
      at: "input" (masks at the inference size) or "original" (each image's own size: class
        probabilities resized bilinearly to it, then the arg-max).
      sliding_window: run the model on overlapping windows of its input size (a scale-and-crop
        run: its crop size) over the image resized to `image_size`, averaging probabilities.
      worst: also keep the `worst` images by foreground IoU (figure worst.png); by the
        image's mean IoU for datasets without a foreground class.
      output_dir: folder for metrics.json, confusion_matrix.png, worst.png; None writes nothing.

    Returns:
      dict: the contents of metrics.json (see the README's evaluation section).
    """
    if at not in AT_CHOICES:
        raise ValueError(f"at must be one of {AT_CHOICES}, got {at!r}")
    if int(batch_size) < 1 or int(worst) < 0:
        raise ValueError(f"batch_size must be >= 1 and worst >= 0, got {batch_size}, {worst}")
    predict, size, num_classes, kind, window = load_model(model, image_size, sliding_window)
    ds, total, manifest = _examples(records, split, size, int(batch_size))
    names, foreground = dataset_classes(manifest)
    if len(names) != num_classes:
        raise ValueError(f"{model} predicts {num_classes} classes but {records} has "
                         f"{len(names)} ({', '.join(names[:6])}{', ...' if len(names) > 6 else ''});"
                         " evaluate a model trained on these records")
    confusion = np.zeros((num_classes, num_classes), np.int64)
    f_scores, kept, count = [], [], 0
    from tqdm.auto import tqdm

    with tqdm(total=total, desc=f"evaluate {split}", unit="img", disable=not progress) as bar:
        for batch in ds.as_numpy_iterator():
            probabilities = predict(batch)
            if at == "original":
                truth, pred = batch["original"], _to_original(probabilities, batch["size"],
                                                              batch["original"].shape[1:])
            else:
                truth, pred = batch["mask"], np.argmax(probabilities, -1).astype(np.uint8)
            confusion += metrics.confusion_matrix(truth, pred, num_classes)
            for i in range(len(pred)):
                h, w = batch["size"][i] if at == "original" else size
                t, p = truth[i, :h, :w], pred[i, :h, :w]
                if foreground is not None:
                    f_scores.append(boundary_f1(t == foreground, p == foreground,
                                                BOUNDARY_TOLERANCE, valid=t != IGNORE_LABEL))
                    score = _foreground_iou(t, p, foreground)
                else:
                    score = _image_mean_iou(t, p, num_classes) if worst else math.nan
                if worst and not math.isnan(score):
                    item = (-score, count, batch["where"][i].decode(), batch["encoded"][i], t, p)
                    (heapq.heappush if len(kept) < worst else heapq.heappushpop)(kept, item)
                count += 1
            bar.update(len(pred))
    per_class = metrics.iou_from_confusion(confusion)
    result = {
        "model": str(pathlib.Path(model).resolve()), "model_kind": kind,
        "records": str(pathlib.Path(records).resolve()), "split": split, "at": at,
        "input_size": list(size), "num_images": count,
        "sliding_window": list(window) if sliding_window else None,
        "label_names": list(names),
        "foreground_class": foreground,
        "foreground_iou": None if foreground is None else _number(per_class[foreground]),
        "mean_iou": _number(np.nanmean(per_class) if np.isfinite(per_class).any() else math.nan),
        "per_class_iou": [_number(v) for v in per_class],
        "iou_by_class": {n: _number(v) for n, v in zip(names, per_class)},
        "pixel_accuracy": _number(np.trace(confusion) / max(confusion.sum(), 1)),
        "boundary_f1": _number(np.mean(f_scores) if f_scores else math.nan),
        "boundary_tolerance_px": BOUNDARY_TOLERANCE,
        "confusion_matrix": confusion.tolist(),
        "worst": [{"record": where, ("foreground_iou" if foreground is not None
                                     else "mean_iou"): -neg}
                  for neg, _, where, *_ in sorted(kept, reverse=True)],
    }
    if output_dir is not None:
        palette = manifest.get("palette") if manifest.get("format", "pets") != "pets" else None
        _write(result, sorted(kept, reverse=True), pathlib.Path(output_dir), palette)
    return result


def _number(value):
    value = float(value)
    return None if math.isnan(value) else value  # JSON has no NaN


def _write(result, kept, out, palette=None):
    from segdata.io.atomic import write_json_atomic
    from segmodel.evaluation import figures as eval_figures

    out.mkdir(parents=True, exist_ok=True)
    eval_figures.plot_confusion(np.array(result["confusion_matrix"]), result["label_names"],
                                out / "confusion_matrix.png")
    if kept:
        eval_figures.plot_worst([(where, -neg, encoded, t, p)
                                 for neg, _, where, encoded, t, p in kept], out / "worst.png",
                                classes=result["label_names"], palette=palette,
                                score_name="fg IoU" if result["foreground_class"] is not None
                                else "mean IoU")
    write_json_atomic(out / "metrics.json", result)
