"""Check SAM prompts given in image pixels and turn them into keras-hub's inputs.

Every mistake a user can make with a prompt (a point off the image, a label that is not
0 or 1, a box with its corners swapped) becomes a `ValueError` that names the argument and
the offending value, before any tensor reaches the model, where it would otherwise give a
silently wrong mask or an opaque TensorFlow error.
"""

import dataclasses
from typing import Optional

import numpy as np

from segmodel.sam import transforms

FOREGROUND, BACKGROUND, PADDING = 1, 0, -1


@dataclasses.dataclass(frozen=True)
class Prompts:
    """Validated prompts in the original image's pixels.

    Attributes:
      points: float32 `[N, 2]` (x, y), or None.
      labels: int32 `[N]`, 1 foreground / 0 background, or None.
      box: float32 `[4]` (x0, y0, x1, y1), or None.
    """

    points: Optional[np.ndarray]
    labels: Optional[np.ndarray]
    box: Optional[np.ndarray]

    def to_dict(self):
        """JSON-ready dict: {"points": [[x, y], ...], "labels": [...], "box": [...]}."""
        return {
            "points": None if self.points is None else self.points.tolist(),
            "labels": None if self.labels is None else self.labels.tolist(),
            "box": None if self.box is None else self.box.tolist(),
        }


def _as_float_array(value, name):
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be numbers, got {value!r}.") from err
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite numbers, got {array.tolist()}.")
    return array


def _check_points(point_coords, point_labels, height, width):
    points = _as_float_array(point_coords, "point_coords")
    if points.ndim == 1 and points.shape[0] == 2:
        points = points[None]  # one (x, y) pair is a natural way to give a single click
    if points.ndim != 2 or points.shape[1] != 2 or points.shape[0] == 0:
        raise ValueError(
            f"point_coords must have shape [N, 2] with (x, y) rows, got shape {points.shape}."
        )
    if point_labels is None:
        raise ValueError(
            f"point_labels is required with point_coords: give one label per point "
            f"(1 foreground, 0 background), e.g. point_labels={[1] * len(points)}."
        )
    labels = _as_float_array(point_labels, "point_labels").reshape(-1)
    if labels.shape[0] != points.shape[0]:
        raise ValueError(
            f"point_labels has {labels.shape[0]} labels but point_coords has "
            f"{points.shape[0]} points; give exactly one label per point."
        )
    bad = [v for v in labels.tolist() if v not in (FOREGROUND, BACKGROUND)]
    if bad:
        raise ValueError(
            f"point_labels must be 1 (foreground) or 0 (background), got {bad}."
        )
    outside = [
        (x, y) for x, y in points.tolist() if not (0 <= x <= width and 0 <= y <= height)
    ]
    if outside:
        raise ValueError(
            f"point_coords {outside} lie outside the image (width {width}, height "
            f"{height}); points are (x, y) pixels with 0 <= x <= {width}, 0 <= y <= {height}."
        )
    return points.astype(np.float32), labels.astype(np.int32)


def _check_box(box, height, width):
    values = _as_float_array(box, "box")
    if values.size != 4:
        raise ValueError(f"box must be 4 numbers (x0, y0, x1, y1), got shape {values.shape}.")
    x0, y0, x1, y1 = values.reshape(4).tolist()
    if x1 < x0 or y1 < y0:
        raise ValueError(
            f"box {[x0, y0, x1, y1]} has x1 < x0 or y1 < y0; give (x0, y0, x1, y1) with "
            f"the top-left corner first."
        )
    if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
        raise ValueError(
            f"box {[x0, y0, x1, y1]} extends outside the image (width {width}, height "
            f"{height}); clip it to 0 <= x <= {width}, 0 <= y <= {height}."
        )
    return values.reshape(4).astype(np.float32)


def check_prompts(point_coords, point_labels, box, image_size):
    """Validate prompts against an image of `image_size` = (H, W).

    Args:
      point_coords: `[N, 2]` (x, y) pixels (a single `[2]` pair is accepted), or None.
      point_labels: `[N]` of 1 (foreground) / 0 (background), or None.
      box: `[4]` (x0, y0, x1, y1) pixels, or None.
      image_size: (H, W) of the original image.

    Returns:
      A `Prompts`.

    Raises:
      ValueError: naming the argument and the bad value, for points outside the image,
        label count != point count, labels not in {0, 1}, boxes with swapped corners or
        outside the image, labels without points, or no prompt at all.
    """
    height, width = int(image_size[0]), int(image_size[1])
    if point_coords is None and point_labels is not None:
        raise ValueError("point_labels was given without point_coords; pass both or neither.")
    if point_coords is None and box is None:
        raise ValueError(
            "No prompt given: pass point_coords with point_labels, a box, or both."
        )
    points = labels = None
    if point_coords is not None:
        points, labels = _check_points(point_coords, point_labels, height, width)
    checked_box = None if box is None else _check_box(box, height, width)
    return Prompts(points=points, labels=labels, box=checked_box)


def to_model_inputs(prompts, original_size, long_side):
    """keras-hub prompt-encoder inputs for one image, in the encoder's input frame.

    Follows segment-anything's conventions: without a box, a padding point (0, 0) with
    label -1 is appended (keras-hub embeds it as "not a point"); with a box, no padding
    point. An absent box is a zero-length box axis, never a dummy box.

    Returns:
      dict with "points" float32 `[1, N', 2]`, "labels" float32 `[1, N']`,
      "boxes" float32 `[1, B, 2, 2]` (B = 0 or 1).
    """
    points = np.zeros((0, 2), np.float32)
    labels = np.zeros((0,), np.float32)
    if prompts.points is not None:
        points = transforms.apply_coords(prompts.points, original_size, long_side)
        labels = prompts.labels.astype(np.float32)
    if prompts.box is None:
        boxes = np.zeros((0, 2, 2), np.float32)
        points = np.concatenate([points, np.zeros((1, 2), np.float32)])
        labels = np.concatenate([labels, np.array([PADDING], np.float32)])
    else:
        boxes = transforms.apply_box(prompts.box, original_size, long_side)[None]
    return {"points": points[None], "labels": labels[None], "boxes": boxes[None]}
