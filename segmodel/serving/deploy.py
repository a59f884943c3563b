"""Export a trained model for on-device runtimes: LiteRT (.tflite, optionally quantized) and ONNX.

    export_model("runs/pets/model.keras", "export/pets-lite", export_format="litert",
                 quantize="int8", calibration_records="records")   # -> export/pets-lite/1/

Layout of one version (the SavedModel's, so the same tools find it):
    EXPORT/N/model.tflite or EXPORT/N/model.onnx   the model, with segkit.json embedded
    EXPORT/N/segkit.json                            the same metadata, plus the file's sha256
A version appears atomically (written to EXPORT/.tmp-N-<pid>, renamed at the end).

Both files go through `keras.Model.export(format="litert" | "onnx")`. They take RGB pixels
0..255 at the model's input size, [N, H, W, 3] (any N): float32, or uint8 for a full-integer
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
import re
import shutil

import numpy as np

from segmodel.serving import export as saved_model_export
from segmodel.serving import records_check
from segmodel.serving.metadata import (
    DEFAULT_AGREEMENT_IMAGES,
    DEFAULT_CALIBRATION_IMAGES,
    FORMATS,
    METADATA_FILE,
    MODEL_FILES,
    QUANTIZATIONS,
)
from segmodel.serving.runtimes import EMBEDDED_METADATA, require


class ConversionError(ValueError):
    """A model (or one of its ops) cannot be written in the requested format."""


def _ops_and_layers(text):
    """(sorted op names, sorted Keras layer names) mentioned in a converter's error text."""
    ops = set(re.findall(r"'((?:tf|tfl|mhlo|stablehlo)\.[A-Za-z0-9_]+)'", text))
    ops |= set(re.findall(r"\b(?:tf|tfl)\.([A-Z][A-Za-z0-9_]+)\b", text))
    ops |= set(re.findall(r"No (?:conversion|op) (?:function|handler) registered for (?:op )?"
                          r"['\"]?([A-Za-z0-9_]+)", text))
    ops |= set(re.findall(r"Unsupported ops?:? *\[?([A-Za-z0-9_, ]+)", text))
    ops = sorted({o.strip() for op in ops for o in op.split(",") if o.strip()})
    # Locations look like loc(fused["Conv2D:", "functional_1/conv2d_3/convolution@..."]) or
    # callsite("model/layer_name/Op@__inference..."): the path's second part is the layer.
    layers = sorted(set(re.findall(r"\"[A-Za-z0-9_]+/([A-Za-z0-9_.-]+)/[^\"]*\"", text)))
    return ops, layers


def conversion_error(model, export_format, quantize, error):
    """ConversionError naming the ops/layers the converter refused and what to do instead."""
    text = str(error)
    ops, layers = _ops_and_layers(text)
    first = next((line.strip() for line in text.splitlines()
                  if "error" in line.lower() and line.strip()), text.strip()[:300])
    where = (f"op(s) {', '.join(ops[:10])}" if ops else "an op") + (
        f" in layer(s) {', '.join(layers[:10])}" if layers else "")
    if export_format == "litert":
        advice = ("LiteRT has no int8 kernel for it: export with --quantize dynamic or float16, "
                  "or --format onnx" if quantize == "int8" else
                  "LiteRT has no builtin kernel for it: replace the layer with one built from "
                  "standard Keras layers, or export with --format onnx or saved_model")
    else:
        advice = ("tf2onnx cannot convert it: replace the layer with one built from standard "
                  "Keras layers, or export with --format litert or saved_model")
    return ConversionError(f"Cannot export model {model.name!r} to {export_format}"
                           f"{f' ({quantize})' if export_format == 'litert' else ''}: {where} "
                           f"could not be converted; {advice}. Converter said: {first[:400]}")


def _litert_options(quantize, calibration):
    import tensorflow as tf

    if quantize == "none":
        return {"target_spec": {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]}}
    options = {"optimizations": [tf.lite.Optimize.DEFAULT],
               "target_spec": {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]}}
    if quantize == "float16":
        options["target_spec"]["supported_types"] = [tf.float16]
    elif quantize == "int8":
        options["target_spec"]["supported_ops"] = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        options["representative_dataset"] = records_check.representative_dataset(calibration)
        options["inference_input_type"] = tf.uint8  # camera pixels go in as they are
        options["inference_output_type"] = tf.uint8
    return options


def embed_tflite_metadata(model_bytes, metadata):
    """bytes of the .tflite flatbuffer with `metadata` (dict) added as the entry "segkit.json".

    The TFLite schema's Model.metadata list holds named buffers; runtimes ignore unknown names,
    and any flatbuffer reader (or segmodel.serving.runtimes.tflite_metadata) gets the JSON back.
    """
    flatbuffers = require("flatbuffers", "Writing .tflite metadata")
    schema = require("ai_edge_litert.schema_py_generated", "Writing .tflite metadata")

    model = schema.ModelT.InitFromPackedBuf(bytearray(model_bytes), 0)
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(json.dumps(metadata).encode(), np.uint8)
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name = EMBEDDED_METADATA
    entry.buffer = len(model.buffers) - 1
    model.metadata = [m for m in (model.metadata or []) if m.name != EMBEDDED_METADATA.encode()]
    model.metadata.append(entry)
    builder = flatbuffers.Builder(len(model_bytes) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def float32_model(model):
    """`model` itself when every layer computes in float32, else a float32 copy of it.

    LiteRT and onnxruntime have no bfloat16 kernels, and mixed float16/bfloat16 graphs fail to
    convert (bf16 Conv2D) or to load (Mul bound to float16 and bfloat16): the files are written
    in float32 (the weights of a mixed-precision model already are float32), quantized after.
    """
    import keras

    def mixed(obj):
        if isinstance(obj, dict):
            if obj.get("class_name") == "DTypePolicy" and str(
                    obj.get("config", {}).get("name", "")).startswith("mixed_"):
                return True
            return any(mixed(v) for v in obj.values())
        return isinstance(obj, list) and any(mixed(v) for v in obj)

    def to_float32(obj):
        if isinstance(obj, dict):
            if obj.get("class_name") == "DTypePolicy":
                return dict(obj, config={**obj["config"], "name": "float32"})
            return {k: to_float32(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [to_float32(v) for v in obj]
        return obj

    config = keras.saving.serialize_keras_object(model)
    if not mixed(config):
        return model
    copy = keras.saving.deserialize_keras_object(to_float32(config))
    copy.set_weights(model.get_weights())
    return copy


def _convert_litert(model, image_size, path, quantize, calibration):
    import tensorflow as tf

    signature = [tf.TensorSpec([None, *image_size, 3], tf.float32, name="images")]
    try:
        model.export(str(path), format="litert", verbose=False, input_signature=signature,
                     **_litert_options(quantize, calibration))
    except Exception as error:  # the converter raises ConverterError, RuntimeError, ...
        raise conversion_error(model, "litert", quantize, error) from error


def _convert_onnx(model, image_size, path):
    """Writes `path`; returns the file's batch size (None: any, 1: one image per call)."""
    import keras
    import tensorflow as tf

    require("tf2onnx", "--format onnx")  # Keras converts through it; say so before converting
    # Keras' ONNX export traces model(x) without training=False, and layers that do not pass
    # `training` on (keras-hub's SpatialPyramidPooling) then trace batch norm in training mode:
    # DeepLabV3+ files disagreed with Keras on 40 % of pixels. A wrapper pins inference mode.
    inputs = keras.Input((*image_size, 3), name="images")
    wrapper = keras.Model(inputs, model(inputs, training=False), name=model.name)
    wrapper(np.zeros((1, *image_size, 3), np.float32))  # tf2onnx needs a model that was called
    problem = None
    # tf2onnx mis-converts some reshapes whose size depends on the batch (keras-hub SegFormer's
    # attention): such a file fails in onnxruntime, so it is written again for batch 1.
    for batch in (None, 1):
        signature = [tf.TensorSpec([batch, *image_size, 3], tf.float32, name="images")]
        try:
            wrapper.export(str(path), format="onnx", verbose=False, input_signature=signature)
        except Exception as error:  # tf2onnx raises ValueError, KeyError, RuntimeError, ...
            raise conversion_error(model, "onnx", "none", error) from error
        problem = _onnx_self_check(wrapper, path, image_size, batch)
        if problem is None:
            return batch
    raise conversion_error(model, "onnx", "none", problem)


def _onnx_self_check(model, path, image_size, batch):
    """None if onnxruntime runs `path` like Keras on random pixels, else what went wrong."""
    onnxruntime = require("onnxruntime", "Checking the .onnx file")
    pixels = np.random.default_rng(0).uniform(0, 255, (batch or 2, *image_size, 3))
    pixels = pixels.astype(np.float32)
    try:
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        result = session.run(None, {session.get_inputs()[0].name: pixels})[0]
    except Exception as error:  # onnxruntime's own error types
        return f"onnxruntime cannot run the converted file: {error}"
    difference = float(np.max(np.abs(result - np.asarray(model(pixels), np.float32))))
    if difference > 1e-3:
        return f"the converted file's outputs differ from Keras by up to {difference:.3g}"
    return None


def embed_onnx_metadata(path, metadata):
    """Stores `metadata` (dict) as the .onnx file's metadata_props "segkit.json" (in place)."""
    onnx = require("onnx", "Writing .onnx metadata")
    proto = onnx.load(str(path))
    kept = [(p.key, p.value) for p in proto.metadata_props if p.key != EMBEDDED_METADATA]
    del proto.metadata_props[:]
    for key, value in kept + [(EMBEDDED_METADATA, json.dumps(metadata))]:
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, str(path))


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
      ValueError: a bad argument, records of another dataset, or (ConversionError) a layer or
        op the format cannot express.
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
        model = float32_model(model)
        if policy != "float32":
            notes.append(f"the Keras model computes in {policy}; the file computes in float32 "
                         "(LiteRT and onnxruntime have no bfloat16 kernels)")
    metadata = saved_model_export.build_metadata(model, image_size, num_classes, label_names,
                                                 source, None, palette=palette,
                                                 export_format=export_format)
    metadata["notes"] = notes
    classes = metadata["label_names"]
    calibration_records = calibration_records or default_records(source)
    validation_records = validation_records or calibration_records
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
            _convert_litert(model, image_size, path, quantize, calibration)
        else:
            batch = _convert_onnx(model, image_size, path)
            if batch is not None:
                notes.append("tf2onnx could not convert this model for any batch size: the "
                             "ONNX file takes one image per call")
        # The runtime's own view of the file's input and output (dtype, quantization).
        io_spec = _describe_io(runtimes.load_runner(path))
        io_spec["output"]["kind"] = metadata["output"]["kind"]
        metadata.update(io_spec)
        if export_format == "litert":
            path.write_bytes(embed_tflite_metadata(path.read_bytes(), metadata))
        else:
            embed_onnx_metadata(path, metadata)
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
