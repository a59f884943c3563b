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

This module loads a path with the right runner (Keras and SavedModel runners here; LiteRT and
ONNX in `segmodel.serving.device_runtimes`, all `segmodel.serving.model_runner.ModelRunner`s)
and runs one on a photo of any size.
"""

import pathlib

import numpy as np

from segmodel.serving.device_runtimes import LiteRTRunner, OnnxRunner
from segmodel.serving.metadata import find_version_dir, read_metadata, run_dataset
from segmodel.serving.model_runner import ModelRunner

KINDS = ("keras", "saved_model", "litert", "onnx")
_PASS = ("Pass a trained RUN/model.keras, an export folder EXPORT or EXPORT/N written by "
         "`segkit export`, a .tflite or an .onnx file.")


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
