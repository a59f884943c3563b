"""IoU metrics and the segmentation loss, all honouring the ignore label of `resize="pad"`.

Every object returned here is a built-in Keras class (`keras.metrics.IoU`, `keras.metrics.MeanIoU`,
`keras.losses.SparseCategoricalCrossentropy`) configured for segmentation, not a subclass. That is
deliberate: `model.keras` stores the compile configuration, and built-in classes keep the saved
model loadable with plain `keras.models.load_model` in a process that never imports segkit.

Conventions (the chapter's): y_true is sparse, int [B, H, W, 1] (or [B, H, W]) holding class ids
0..C-1 or IGNORE_LABEL; y_pred is dense, float [B, H, W, C] probabilities. Pixels whose label is
IGNORE_LABEL count neither in the loss nor in any IoU.
"""

import keras
import numpy as np

# The label contract (class ids, ignore label) has one home: segdata.records.labels.
from segdata.records.labels import IGNORE_LABEL, NUM_CLASSES

FOREGROUND_CLASS = 0


def foreground_iou(num_classes=NUM_CLASSES, ignore_class=IGNORE_LABEL, name="foreground_iou",
                   foreground_class=FOREGROUND_CLASS):
    """The chapter's metric: IoU of the foreground class (0, the pet, for Pets), sparse targets,
    dense predictions.

    Returns:
      keras.metrics.IoU taking y_true int [B, H, W, 1] and y_pred float [B, H, W, C]; a scalar.
    """
    return keras.metrics.IoU(
        num_classes=num_classes,
        target_class_ids=(foreground_class,),
        name=name,
        ignore_class=ignore_class,
        sparse_y_true=True,
        sparse_y_pred=False,
    )


def mean_iou(num_classes=NUM_CLASSES, ignore_class=IGNORE_LABEL, name="mean_iou"):
    """Mean over all classes of the per-class IoU (foreground, background, outline for Pets).

    Returns:
      keras.metrics.MeanIoU taking y_true int [B, H, W, 1] and y_pred float [B, H, W, C]; a scalar.
    """
    return keras.metrics.MeanIoU(
        num_classes=num_classes,
        name=name,
        ignore_class=ignore_class,
        sparse_y_true=True,
        sparse_y_pred=False,
    )


def make_metrics(num_classes=NUM_CLASSES, ignore_class=IGNORE_LABEL,
                 foreground_class=FOREGROUND_CLASS):
    """[foreground IoU, mean IoU], fresh instances (metrics hold state: never share between
    models). foreground_class None (a dataset without one, e.g. VOC): [mean IoU] only."""
    if foreground_class is None:
        return [mean_iou(num_classes, ignore_class)]
    return [foreground_iou(num_classes, ignore_class, foreground_class=foreground_class),
            mean_iou(num_classes, ignore_class)]


def make_loss(ignore_class=IGNORE_LABEL):
    """Pixel-wise cross-entropy on softmax probabilities; ignored pixels contribute nothing.

    Returns:
      keras.losses.SparseCategoricalCrossentropy: y_true int [B, H, W, 1], y_pred float32
      [B, H, W, C] -> scalar, the mean over the non-ignored pixels of the batch it sees. Called
      inside `strategy.run`, Keras already divides that mean by `num_replicas_in_sync`, so the
      all-reduced gradients are those of the global batch's mean (`fit` and
      `segmodel.distribute.worker_loop` rely on this; do not divide again).
    """
    return keras.losses.SparseCategoricalCrossentropy(ignore_class=ignore_class)


def confusion_matrix(y_true, y_pred, num_classes=NUM_CLASSES, ignore_class=IGNORE_LABEL):
    """NumPy confusion matrix for scoring outside Keras (tests, tools, reports).

    Args:
      y_true: int array [...], class ids or ignore_class.
      y_pred: int array of the same shape (argmax of the probabilities), or float [..., C].

    Returns:
      int64 [C, C], rows = true class, columns = predicted class.
    """
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_pred.ndim == y_true.ndim + 1 or (
        y_pred.ndim == y_true.ndim and y_pred.shape[-1] == num_classes and y_true.shape[-1] == 1
    ):
        y_pred = y_pred.argmax(axis=-1)
    y_true = y_true.reshape(-1)
    y_pred = y_pred.reshape(-1)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has {y_true.size} pixels but y_pred has {y_pred.size}")
    keep = y_true != ignore_class
    y_true, y_pred = y_true[keep].astype(np.int64), y_pred[keep].astype(np.int64)
    if y_true.size and (y_true.min() < 0 or y_true.max() >= num_classes):
        raise ValueError(f"y_true holds labels outside 0..{num_classes - 1} and {ignore_class}")
    return np.bincount(y_true * num_classes + y_pred, minlength=num_classes**2).reshape(
        num_classes, num_classes
    )


def iou_from_confusion(matrix):
    """Per-class IoU from a confusion matrix [C, C] -> float64 [C]; NaN for absent classes."""
    matrix = np.asarray(matrix, dtype=np.float64)
    intersection = np.diag(matrix)
    union = matrix.sum(0) + matrix.sum(1) - intersection
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, intersection / union, np.nan)
