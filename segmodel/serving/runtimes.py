"""One way to run every model file segkit writes, each with its own runtime.

    runner = load_runner("export/pets-lite/1/model.tflite")   # or .keras, .onnx, EXPORT/N
    probs = runner.probabilities(pixels)                      # [N, H, W, 3] -> [N, H, W, C]
    probs = probabilities_at(runner, photo)                   # any size in, same size out

Runtime by what the path is:
    *.keras / *.h5           Keras (classes from run.json beside the file, the training run's)
    EXPORT or EXPORT/N       the version's model: a SavedModel (its `predict_pixels` signature
                             through tf.saved_model.load), or model.tflite / model.onnx
    *.tflite                 ai_edge_litert.interpreter.Interpreter (LiteRT)
    *.onnx                   onnxruntime.InferenceSession (CPU)
Classes, palette and what the output is come from the file's own metadata (ONNX
metadata_props / the TFLite metadata entry "segkit.json"), else the segkit.json beside it.

Every runner takes 0..255 RGB pixels at its input size and returns float32 class probabilities,
whatever the file stores: quantized (uint8/int8) inputs and outputs are (de)quantized with the
file's own scale and zero point, logits go through a softmax.
"""

import json
import pathlib

import numpy as np

from segmodel.serving.metadata import METADATA_FILE, find_version_dir, read_metadata, run_dataset

KINDS = ("keras", "saved_model", "litert", "onnx")
# Name of the JSON entry in a .tflite file's metadata and key in an .onnx file's metadata_props.
EMBEDDED_METADATA = METADATA_FILE
_PASS = ("Pass a trained RUN/model.keras, an export folder EXPORT or EXPORT/N written by "
         "`segkit export`, a .tflite or an .onnx file.")


def require(module, purpose):
    """Imports `module`, or raises ImportError saying which extra installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(f"{purpose} needs the Python package of {module.split('.')[0]} "
                          f"({error}): pip install 'segkit[deploy]'") from error


class ModelRunner:
    """A loaded model file. Subclasses set the attributes and implement `_run`.

    Attributes:
      path: pathlib.Path that was loaded.
      kind: "keras" | "saved_model" | "litert" | "onnx".
      classes: class names in train-id order.
      palette: [[r, g, b], ...] per class, or None when nothing recorded one.
      input_size: (H, W) the model takes.
      metadata: the segkit.json dict (embedded or beside the file), {} if none.
    """

    kind = None

    def __init__(self, path, input_size, num_classes, metadata):
        self.path = pathlib.Path(path)
        self.metadata = metadata or {}
        self.input_size = tuple(int(s) for s in input_size)
        names = self.metadata.get("label_names") or self.metadata.get("classes")
        if names is None or len(names) != num_classes:
            names = _default_names(num_classes)
        self.classes = list(names)
        palette = self.metadata.get("palette")
        self.palette = ([list(map(int, c)) for c in palette]
                        if palette is not None and len(palette) == num_classes else None)
        self.output_is_logits = (self.metadata.get("output") or {}).get("kind") == "logits"

    @property
    def num_classes(self):
        return len(self.classes)

    def probabilities(self, images):
        """uint8 or float 0..255 RGB [N, H, W, 3] at input_size -> float32 [N, H, W, C].

        Raises:
          ValueError: the images are not [N, H, W, 3] at input_size (names the file).
        """
        images = np.asarray(images)
        if images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"{self.path} takes RGB images [N, H, W, 3], got an array of shape "
                             f"{images.shape}.")
        if tuple(images.shape[1:3]) != self.input_size:
            h, w = self.input_size
            raise ValueError(
                f"{self.path} takes {h}x{w} images (H x W), got {images.shape[1]}x"
                f"{images.shape[2]}. Resize them first (segmodel.serving.runtimes."
                f"probabilities_at does: bilinear in, probabilities resized back)."
            )
        out = np.asarray(self._run(images), np.float32)
        if self.output_is_logits:
            out = np.exp(out - out.max(-1, keepdims=True))
            out /= out.sum(-1, keepdims=True)
        return out

    def _run(self, images):
        raise NotImplementedError

    def __repr__(self):
        return (f"{type(self).__name__}({str(self.path)!r}, kind={self.kind!r}, "
                f"input_size={self.input_size}, classes={self.classes})")


def _default_names(num_classes):
    if num_classes == 3:  # the chapter's Pets trimap classes, as export and predict default
        return ["foreground", "background", "outline"]
    return [f"class_{i}" for i in range(num_classes)]


class KerasRunner(ModelRunner):
    kind = "keras"

    def __init__(self, path, image_size=None):
        from segmodel.serving.export import load_keras_model, model_signature

        self.model = load_keras_model(path)
        size, num_classes = model_signature(self.model, image_size)
        dataset = run_dataset(path)
        super().__init__(path, size, num_classes,
                         {"label_names": dataset.get("classes"),
                          "palette": dataset.get("palette")})

    def _run(self, images):
        return self.model.predict_on_batch(images.astype(np.float32))


class SavedModelRunner(ModelRunner):
    kind = "saved_model"

    def __init__(self, version_dir):
        import tensorflow as tf

        self._tf = tf
        self.loaded = tf.saved_model.load(str(version_dir))
        if "predict_pixels" not in self.loaded.signatures:
            raise ValueError(f"{version_dir} has no predict_pixels signature (not written by "
                             f"segkit export); re-export it with `segkit export`.")
        self.signature = self.loaded.signatures["predict_pixels"]
        spec = self.signature.structured_input_signature[1]["images"]
        out = self.signature.structured_outputs["probabilities"]
        super().__init__(version_dir, spec.shape[1:3], int(out.shape[-1]),
                         read_metadata(version_dir))

    def _run(self, images):
        tf = self._tf
        return self.signature(images=tf.constant(images, tf.float32))["probabilities"].numpy()


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


def load_runner(path, *, image_size=None, num_threads=None):
    """Loads a model file with its own runtime.

    Args:
      path: RUN/model.keras (.h5), an export folder (EXPORT or EXPORT/N: its SavedModel,
        model.tflite or model.onnx), a .tflite or an .onnx file.
      image_size: (H, W), only for a .keras model that accepts any input size.
      num_threads: CPU threads for LiteRT / onnxruntime (None: the runtime's default).

    Returns:
      ModelRunner.

    Raises:
      FileNotFoundError: `path` does not exist (the message says what to pass).
      ValueError: the file is not a model its runtime can load, or its kind is unknown.
    """
    path = pathlib.Path(path)
    if not path.exists():
        raise FileNotFoundError(f"Model {path} does not exist. {_PASS}")
    suffix = path.suffix.lower()
    if path.is_dir():
        version = find_version_dir(path)
        if (version / "saved_model.pb").is_file():
            return SavedModelRunner(version)
        path = next(p for p in (version / "model.tflite", version / "model.onnx") if p.is_file())
        suffix = path.suffix
    if suffix in (".keras", ".h5"):
        return KerasRunner(path, image_size)
    if suffix == ".tflite":
        return LiteRTRunner(path, num_threads)
    if suffix == ".onnx":
        return OnnxRunner(path, num_threads)
    if path.name == "saved_model.pb":
        return SavedModelRunner(path.parent)
    raise ValueError(f"Cannot tell which runtime runs {path} (suffix {suffix or 'none'!r}). "
                     f"{_PASS}")


def resize_image(image, size):
    """uint8 [h, w, 3] -> float32 [H, W, 3]: the training pipeline's bilinear resize."""
    from segdata.input import transforms

    return transforms.resize_image(np.asarray(image, np.uint8), tuple(size)).numpy().astype(
        np.float32)


def resize_probabilities(probabilities, size):
    """float32 [h, w, C] -> [H, W, C], bilinear (probabilities resize before arg-max)."""
    import tensorflow as tf

    return tf.image.resize(probabilities, tuple(size), method="bilinear").numpy()


def probabilities_at(runner, image):
    """uint8 [H, W, 3] any size -> float32 [H, W, C] class probabilities at the image's size.

    The image is resized bilinearly to the runner's input size (as training resized it), run,
    and the probabilities are resized bilinearly back; take the arg-max after that.
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"Expected one RGB image [H, W, 3], got shape {image.shape}.")
    probs = runner.probabilities(resize_image(image, runner.input_size)[np.newaxis])[0]
    if tuple(image.shape[:2]) == runner.input_size:
        return probs
    return resize_probabilities(probs, image.shape[:2])
