"""`ModelRunner`: the base of every runtime's runner (`segmodel.serving.runtimes.load_runner`
returns one).

    runner.probabilities(pixels)     # 0..255 RGB [N, H, W, 3] at input_size -> float32 [N, H, W, C]
    runner.classes, runner.palette, runner.input_size, runner.metadata

A subclass loads a file with its runtime and implements `_run`; this base checks the input's
shape, names the classes (the file's metadata, else defaults) and turns logits into
probabilities with a softmax.
"""

import pathlib

import numpy as np


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
