"""Model -> LiteRT / ONNX bytes through `keras.Model.export`, and the metadata put inside them.

`segmodel.serving.deploy` composes these into versioned exports. Every converter failure comes
out as a `ConversionError` naming the ops and layers and what to do, never a traceback.
"""

import json
import re

import numpy as np

from segmodel.serving import records_check
from segmodel.serving.device_runtimes import EMBEDDED_METADATA, require


class ConversionError(ValueError):
    """A model (or one of its ops) cannot be written in the requested format."""


def _ops_and_layers(text):
    """(sorted op names, sorted Keras layer names) mentioned in a converter's error text."""
    ops = set(re.findall(r"'((?:tf|tfl|mhlo|stablehlo)\.[A-Za-z0-9_]+)'", text))
    ops |= set(re.findall(r"\b(?:tf|tfl)\.([A-Z][A-Za-z0-9_]+)\b", text))
    ops |= set(re.findall(r"No (?:conversion|op) (?:function|handler) registered for (?:op )?"
                          r"['\"]?([A-Za-z0-9_]+)", text))
    ops |= set(re.findall(r"Unsupported ops?:? *\[?([A-Za-z0-9_, ]+)", text))
    # "tf.Conv2D" and "Conv2D" are one op: keep the bare TensorFlow/TFLite op name.
    ops = sorted({o.strip().split(".")[-1] for op in ops for o in op.split(",") if o.strip()})
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
    and any flatbuffer reader (or segmodel.serving.device_runtimes.tflite_metadata) gets the JSON back.
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


def convert_litert(model, image_size, path, quantize, calibration):
    import tensorflow as tf

    signature = [tf.TensorSpec([None, *image_size, 3], tf.float32, name="images")]
    try:
        model.export(str(path), format="litert", verbose=False, input_signature=signature,
                     **_litert_options(quantize, calibration))
    except Exception as error:  # the converter raises ConverterError, RuntimeError, ...
        raise conversion_error(model, "litert", quantize, error) from error


def convert_onnx(model, image_size, path):
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
