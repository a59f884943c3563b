"""LiteRT and ONNX Runtime runners for the on-device files `segkit export --format litert|onnx`
writes, and how to read what those files carry.

    LiteRTRunner(path)     *.tflite through ai_edge_litert.interpreter.Interpreter
    OnnxRunner(path)       *.onnx through onnxruntime.InferenceSession (CPU)

Both take 0..255 RGB pixels and return float32: quantized (uint8/int8) inputs and outputs are
(de)quantized with the file's own scale and zero point (`quantize`, `dequantize`). Classes,
palette and what the output is come from the file's embedded metadata (`tflite_metadata`, the
ONNX metadata_props entry EMBEDDED_METADATA), else the segkit.json beside it. The runtimes are
the `segkit[deploy]` extra: `require` imports them or says how to install them.
"""

import json

import numpy as np

from segmodel.serving.metadata import METADATA_FILE, read_metadata
from segmodel.serving.model_runner import ModelRunner

# Name of the JSON entry in a .tflite file's metadata and key in an .onnx file's metadata_props.
EMBEDDED_METADATA = METADATA_FILE


def require(module, purpose):
    """Imports `module`, or raises ImportError saying which extra installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(f"{purpose} needs the Python package of {module.split('.')[0]} "
                          f"({error}): pip install 'segkit[deploy]'") from error


def tflite_metadata(model_bytes):
    """dict from the "segkit.json" entry of a .tflite file's metadata, or None."""
    schema = require("ai_edge_litert.schema_py_generated", "Reading .tflite metadata")
    model = schema.Model.GetRootAs(model_bytes, 0)
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        if entry.Name() and entry.Name().decode() == EMBEDDED_METADATA:
            data = model.Buffers(entry.Buffer()).DataAsNumpy()
            return json.loads(bytes(data).decode()) if not isinstance(data, int) else None
    return None


class LiteRTRunner(ModelRunner):
    kind = "litert"

    def __init__(self, path, num_threads=None):
        Interpreter = require("ai_edge_litert.interpreter",
                              f"Running {path.name} (LiteRT)").Interpreter
        data = path.read_bytes()
        try:
            self.interpreter = Interpreter(model_content=data, num_threads=num_threads)
            self.interpreter.allocate_tensors()
            embedded = tflite_metadata(data)
        except Exception as error:  # the runtime raises ValueError/RuntimeError for bad files
            raise ValueError(f"{path} is not a valid LiteRT (.tflite) model: {error}. Export it "
                             "again with `segkit export --format litert`.") from error
        inputs, outputs = (self.interpreter.get_input_details(),
                           self.interpreter.get_output_details())
        if len(inputs) != 1 or len(outputs) != 1 or len(inputs[0]["shape"]) != 4:
            raise ValueError(f"{path} has {len(inputs)} inputs and {len(outputs)} outputs; a "
                             "segmentation model takes one image batch [N, H, W, 3].")
        self.input, self.output = inputs[0], outputs[0]
        self._batch = int(self.input["shape"][0])
        super().__init__(path, self.input["shape"][1:3], int(self.output["shape"][-1]),
                         embedded or read_metadata(path.parent))

    def _run(self, images):
        interpreter, detail = self.interpreter, self.input
        if len(images) != self._batch:
            interpreter.resize_tensor_input(detail["index"], [len(images), *images.shape[1:]])
            interpreter.allocate_tensors()
            self._batch = len(images)
        interpreter.set_tensor(detail["index"], quantize(images, detail))
        interpreter.invoke()
        return dequantize(interpreter.get_tensor(self.output["index"]), self.output)


def quantize(values, detail):
    """0..255 pixels as the tensor described by a LiteRT input `detail` wants them."""
    dtype = detail["dtype"]
    scale, zero_point = detail["quantization"]
    if np.issubdtype(dtype, np.floating):
        return values.astype(dtype)
    values = values.astype(np.float32)
    if scale:
        values = np.round(values / scale + zero_point)
    info = np.iinfo(dtype)
    return np.clip(values, info.min, info.max).astype(dtype)


def dequantize(values, detail):
    """float32 of a LiteRT output tensor, undoing its (scale, zero point) when quantized."""
    scale, zero_point = detail["quantization"]
    if np.issubdtype(values.dtype, np.integer) and scale:
        return (values.astype(np.float32) - zero_point) * scale
    return values.astype(np.float32)


class OnnxRunner(ModelRunner):
    kind = "onnx"

    def __init__(self, path, num_threads=None):
        onnxruntime = require("onnxruntime", f"Running {path.name} (ONNX)")
        options = onnxruntime.SessionOptions()
        if num_threads:
            options.intra_op_num_threads = int(num_threads)
        try:
            self.session = onnxruntime.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own types for bad files
            raise ValueError(f"{path} is not a valid ONNX model: {error}. Export it again with "
                             "`segkit export --format onnx`.") from error
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1 or len(inputs[0].shape) != 4:
            raise ValueError(f"{path} has {len(inputs)} inputs and {len(outputs)} outputs; a "
                             "segmentation model takes one image batch [N, H, W, 3].")
        self.input_name = inputs[0].name
        self.fixed_batch = inputs[0].shape[0] if isinstance(inputs[0].shape[0], int) else None
        self.input_type = np.uint8 if inputs[0].type == "tensor(uint8)" else np.float32
        size = inputs[0].shape[1:3]
        if not all(isinstance(s, int) for s in size):
            raise ValueError(f"{path} takes images of any size ({inputs[0].shape}); segkit "
                             "exports a fixed input size. Export it with `segkit export`.")
        props = self.session.get_modelmeta().custom_metadata_map
        embedded = json.loads(props[EMBEDDED_METADATA]) if EMBEDDED_METADATA in props else None
        super().__init__(path, size, int(outputs[0].shape[-1]),
                         embedded or read_metadata(path.parent))

    def _run(self, images):
        images = images.astype(self.input_type)
        if self.fixed_batch is None or len(images) == self.fixed_batch:
            return self.session.run(None, {self.input_name: images})[0]
        # A file written for one batch size (see segmodel.serving.deploy): one call per slice.
        return np.concatenate([
            self.session.run(None, {self.input_name: images[i:i + self.fixed_batch]})[0]
            for i in range(0, len(images), self.fixed_batch)])
