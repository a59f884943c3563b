"""Export a trained model for on-device runtimes: LiteRT (.tflite, optionally quantized) and ONNX.

    export_model("runs/pets/model.keras", "export/pets-lite", export_format="litert",
                 quantize="int8", calibration_records="records")   # -> export/pets-lite/1/

Layout of one version (the SavedModel's, so the same tools find it):
    EXPORT/N/model.tflite or EXPORT/N/model.onnx   the model, with segkit.json embedded
    EXPORT/N/segkit.json                            the same metadata, plus the file's sha256
A version appears atomically (written to EXPORT/.tmp-N-<pid>, renamed at the end).

Both files go through `keras.Model.export(format="litert" | "onnx")`. They take RGB pixels
0..255 at the model's input size, [N, H, W, 3] (any N; N = 1 where segkit.json "notes" says
so): float32, or uint8 for a full-integer
int8 LiteRT file (quantize with the input's scale and zero point; the runtime says them), and
return per-class probabilities [N, H, W, C] (float32, or uint8 with a scale and zero point for
int8). The metadata states all of this in "input" and "output".

Quantization (LiteRT only; Model Garden's export_tflite modes):
    none     float32 weights and activations
    float16  float16 weights, float32 compute (half the size)
    dynamic  int8 weights, activations quantized on the fly (a quarter of the size)
    int8     full-integer: int8 weights and activations, calibrated on record images
"""

import json
import os
import pathlib
import shutil

import numpy as np

from segdata.records.labels import dataset_classes
from segdata.records.manifest import read_manifest
from segmodel.serving import converters, records_check
from segmodel.serving import export as saved_model_export
from segmodel.serving.metadata import (
    DEFAULT_AGREEMENT_IMAGES,
    DEFAULT_CALIBRATION_IMAGES,
    FORMATS,
    METADATA_FILE,
    MODEL_FILES,
    QUANTIZATIONS,
    run_dataset,
)


def _describe_io(runner):
    """The metadata's "input" and "output" entries read back from the written file."""
    if runner.kind == "litert":
        details = (runner.input, runner.output)
        specs = [{"name": d["name"], "dtype": np.dtype(d["dtype"]).name,
                  "shape": [None, *map(int, d["shape"][1:])],
                  "quantization": ({"scale": float(d["quantization"][0]),
                                    "zero_point": int(d["quantization"][1])}
                                   if d["quantization"][0] else None)} for d in details]
    else:
        specs = [{"name": t.name, "dtype": t.type[len("tensor("):-1].replace("float", "float32"),
                  "shape": [t.shape[0] if isinstance(t.shape[0], int) else None, *t.shape[1:]],
                  "quantization": None}
                 for t in (runner.session.get_inputs()[0], runner.session.get_outputs()[0])]
    specs[0].update(range=[0, 255], color="RGB", layout="NHWC")
    specs[1].update(kind="probabilities", axis=-1, layout="NHWC")
    return {"input": specs[0], "output": specs[1]}


def _output_kind(model, image_size):
    """"probabilities" when the model's outputs sum to 1 over classes (softmax), else "logits"."""
    probe = np.random.default_rng(0).uniform(0, 255, (1, *image_size, 3)).astype(np.float32)
    out = np.asarray(model(probe, training=False), np.float32)
    sums = out.sum(-1)
    return "probabilities" if out.min() >= 0 and np.allclose(sums, 1, atol=1e-2) else "logits"


def default_records(source):
    """The training run's records folder (run.json "options" "records"), or None."""
    if source is None:
        return None
    path = pathlib.Path(source).resolve().parent / "run.json"
    try:
        records = json.loads(path.read_text()).get("options", {}).get("records")
    except (OSError, ValueError, AttributeError):
        return None
    return records if records and pathlib.Path(records, "manifest.json").is_file() else None


def export_model(model, output_dir, *, export_format="saved_model", quantize="none",
                 calibration_records=None, calibration_images=DEFAULT_CALIBRATION_IMAGES,
                 calibration_split="train", validation_records=None, validation_split="validation",
                 agreement_images=DEFAULT_AGREEMENT_IMAGES, version=None, overwrite=False,
                 image_size=None, label_names=None, palette=None, source=None):
    """Exports `model` as `output_dir/<version>/` in `export_format`.

    Args:
      model: keras.Model (float32 [B, H, W, 3] 0..255 -> [B, H, W, C]) or a `.keras` path.
      output_dir: base folder; versions go in N/ below it.
      export_format: "saved_model" (TF Serving, see `segmodel.serving.export`), "litert" or
        "onnx".
      quantize: LiteRT only: "none", "float16", "dynamic" or "int8" (full-integer).
      calibration_records: record folder whose `calibration_split` calibrates int8; default
        the training run's records (run.json beside the model file). Must hold the model's
        classes.
      calibration_images: how many images calibrate (the split's first ones).
      validation_records: records for the agreement check; default the calibration records or
        the run's. None found: no check (the result says so).
      agreement_images: how many `validation_split` images the check runs (0: none).
      version, overwrite, image_size, label_names, palette, source: as `export_saved_model`.

    Returns:
      (pathlib.Path of the version folder, agreement dict or None). The agreement (see
      `records_check.agreement`) compares the written file, run by its own runtime, with the
      Keras model; it is also stored in segkit.json.

    Raises:
      ValueError: a bad argument, records of another dataset, or (`converters.ConversionError`)
        a layer or op the format cannot express.
      FileExistsError: the version exists and `overwrite` is False.
      FileNotFoundError: a missing model file or records.
    """
    if export_format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {export_format!r}.")
    if quantize not in QUANTIZATIONS:
        raise ValueError(f"quantize must be one of {', '.join(QUANTIZATIONS)}, got {quantize!r}.")
    if quantize != "none" and export_format != "litert":
        raise ValueError(f"--quantize {quantize} is for --format litert; {export_format} files "
                         "are written in float32.")
    if isinstance(model, (str, os.PathLike)):
        source = model if source is None else source
        model = saved_model_export.load_keras_model(model)
    image_size, num_classes = saved_model_export.model_signature(model, image_size)
    notes = []
    if export_format != "saved_model":
        policy = saved_model_export.describe_precision(model)["dtype_policy"]
        model = converters.float32_model(model)
        if policy != "float32":
            notes.append(f"the Keras model computes in {policy}; the file computes in float32 "
                         "(LiteRT and onnxruntime have no bfloat16 kernels)")
    calibration_records = calibration_records or default_records(source)
    validation_records = validation_records or calibration_records
    records = calibration_records or validation_records
    if label_names is None and records is not None and not (
            source is not None and run_dataset(source)):
        # A model outside a run folder knows no class names: the records it is checked on
        # name them (when the count matches; otherwise check_records_match says why not).
        names, _ = dataset_classes(read_manifest(records))
        if len(names) == num_classes:
            label_names = names
            palette = palette if palette is not None else read_manifest(records).get("palette")
    metadata = saved_model_export.build_metadata(model, image_size, num_classes, label_names,
                                                 source, None, palette=palette,
                                                 export_format=export_format)
    metadata["notes"] = notes
    classes = metadata["label_names"]
    calibration = None
    if quantize == "int8":
        if calibration_records is None:
            raise ValueError("--quantize int8 calibrates on record images: pass "
                             "--calibration-records RECORDS (the records the model was "
                             "trained on).")
        if int(calibration_images) < 1:
            raise ValueError(f"calibration_images must be >= 1, got {calibration_images}.")
        records_check.check_records_match(calibration_records, classes, "--calibration-records")
        calibration = records_check.record_images(calibration_records, calibration_split,
                                                  image_size, int(calibration_images))
        metadata["calibration"] = {"records": str(pathlib.Path(calibration_records).resolve()),
                                   "split": calibration_split, "images": len(calibration)}
    if validation_records is not None and agreement_images:
        records_check.check_records_match(validation_records, classes, "validation records")
    if export_format == "saved_model":
        target = saved_model_export.export_saved_model(
            model, output_dir, version=version, overwrite=overwrite, image_size=image_size,
            label_names=classes, source=source, palette=metadata["palette"])
    else:
        target = _export_file(model, pathlib.Path(output_dir), export_format, quantize,
                              calibration, metadata, version, overwrite, image_size)
    result = None
    if validation_records is not None and agreement_images:
        result = check_agreement(model, target, validation_records, validation_split,
                                 int(agreement_images), num_classes)
        result["records"], result["split"] = str(validation_records), validation_split
        _update_sidecar(target, {"agreement": result})
    return target, result


def _export_file(model, output_dir, export_format, quantize, calibration, metadata, version,
                 overwrite, image_size):
    from segdata.io.fsio import sha256_file
    from segmodel.serving import runtimes

    version, target = saved_model_export.claim_target(output_dir, version, overwrite)
    output_dir.mkdir(parents=True, exist_ok=True)
    temp = output_dir / f".tmp-{version}-{os.getpid()}"
    shutil.rmtree(temp, ignore_errors=True)
    temp.mkdir()
    path = temp / MODEL_FILES[export_format]
    metadata.update(version=version, quantization=quantize,
                    output={"kind": _output_kind(model, image_size)})
    notes = metadata["notes"]
    try:
        if export_format == "litert":
            converters.convert_litert(model, image_size, path, quantize, calibration)
        else:
            batch = converters.convert_onnx(model, image_size, path)
            if batch is not None:
                notes.append("tf2onnx could not convert this model for any batch size: the "
                             "ONNX file takes one image per call")
        # The runtime's own view of the file's input and output (dtype, quantization).
        io_spec = _describe_io(runtimes.load_runner(path))
        io_spec["output"]["kind"] = metadata["output"]["kind"]
        metadata.update(io_spec)
        if export_format == "litert":
            path.write_bytes(converters.embed_tflite_metadata(path.read_bytes(), metadata))
        else:
            converters.embed_onnx_metadata(path, metadata)
        sidecar = dict(metadata, file=path.name, file_sha256=sha256_file(path),
                       file_bytes=path.stat().st_size)
        (temp / METADATA_FILE).write_text(json.dumps(sidecar, indent=2) + "\n")
        saved_model_export.publish_version(temp, target, overwrite)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    return target


def _update_sidecar(version_dir, changes):
    """Adds `changes` to the version's segkit.json (atomically; the model file is untouched)."""
    from segdata.io.atomic import write_json_atomic
    from segmodel.serving.metadata import metadata_path, read_metadata

    path = metadata_path(version_dir)
    write_json_atomic(path, {**read_metadata(version_dir), **changes})
    os.chmod(path, 0o644)  # as the model file: servers often run as another user


def check_agreement(model, version_dir, records, split, count, num_classes):
    """Agreement of the exported version (run by its own runtime) with the Keras `model` on the
    first `count` images of `records`/`split` (see `records_check.agreement`)."""
    from segmodel.serving import runtimes

    runner = runtimes.load_runner(version_dir)
    images, masks = records_check.record_images(records, split, runner.input_size, count,
                                                with_masks=True)
    reference = np.concatenate([model.predict_on_batch(images[i:i + 8])
                                for i in range(0, len(images), 8)])
    candidate = np.concatenate([runner.probabilities(images[i:i + 8])
                                for i in range(0, len(images), 8)])
    return records_check.agreement(reference, candidate, masks, num_classes)
