"""Check SAM prompts given in image pixels and turn them into keras-hub's inputs.

Every mistake a user can make with a prompt (a point off the image, a label that is not
0 or 1, a box with its corners swapped) becomes a `ValueError` that names the argument and
the offending value, before any tensor reaches the model, where it would otherwise give a
silently wrong mask or an opaque TensorFlow error.
"""

import dataclasses
from typing import Optional

import numpy as np

from segmodel.sam.prompting import geometry as transforms

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


def check_batch(point_coords, point_labels, boxes, image_size):
    """Validate B independent prompts (one row each) against an image of (H, W).

    Args:
      point_coords: `[B, N, 2]` (x, y) pixels, or None.
      point_labels: `[B, N]` of 1 / 0; required with points.
      boxes: `[B, 4]` (x0, y0, x1, y1) pixels, or None.

    Returns:
      (points float32 `[B, N, 2]` or None, labels int32 `[B, N]` or None,
      boxes float32 `[B, 4]` or None).

    Raises:
      ValueError: naming the argument, the row and the bad value.
    """
    height, width = int(image_size[0]), int(image_size[1])
    if point_coords is None and point_labels is not None:
        raise ValueError("point_labels was given without point_coords; pass both or neither.")
    if point_coords is None and boxes is None:
        raise ValueError("No prompt given: pass point_coords with point_labels, boxes, or both.")
    points = labels = checked_boxes = None
    rows = None
    if point_coords is not None:
        points = _as_float_array(point_coords, "point_coords")
        if points.ndim != 3 or points.shape[2] != 2 or points.shape[1] == 0:
            raise ValueError(f"point_coords must have shape [B, N, 2], got {points.shape}.")
        if point_labels is None:
            raise ValueError("point_labels [B, N] is required with point_coords.")
        labels = _as_float_array(point_labels, "point_labels")
        if labels.shape != points.shape[:2]:
            raise ValueError(f"point_labels must have shape {list(points.shape[:2])} (one "
                             f"label per point), got {list(labels.shape)}.")
        if not np.isin(labels, (FOREGROUND, BACKGROUND)).all():
            raise ValueError("point_labels must be 1 (foreground) or 0 (background), got "
                             f"{sorted(set(labels.ravel().tolist()))}.")
        off = ~((points[..., 0] >= 0) & (points[..., 0] <= width) & (points[..., 1] >= 0)
                & (points[..., 1] <= height))
        if off.any():
            row = int(np.argwhere(off)[0][0])
            raise ValueError(f"point_coords row {row} has points {points[row][off[row]].tolist()}"
                             f" outside the image (width {width}, height {height}).")
        rows = len(points)
    if boxes is not None:
        checked_boxes = _as_float_array(boxes, "boxes")
        if checked_boxes.ndim != 2 or checked_boxes.shape[1] != 4:
            raise ValueError(f"boxes must have shape [B, 4], got {checked_boxes.shape}.")
        for row, box in enumerate(checked_boxes):
            try:
                _check_box(box, height, width)
            except ValueError as err:
                raise ValueError(f"boxes row {row}: {err}") from None
        if rows is not None and len(checked_boxes) != rows:
            raise ValueError(f"boxes has {len(checked_boxes)} rows but point_coords has "
                             f"{rows}; give one box per prompt.")
        checked_boxes = checked_boxes.astype(np.float32)
    if points is not None:
        points, labels = points.astype(np.float32), labels.astype(np.int32)
    return points, labels, checked_boxes


def check_mask_input(mask_input, low_res_size, batch):
    """Low-res logits used as a mask prompt -> keras-hub's float32 `[B, 1, L, L, 1]`.

    Args:
      mask_input: `[B, L, L]` (segment-anything's `[1, L, L]` for one prompt) or
        `[B, 1, L, L]`: the low-res logits of an earlier prediction.
    """
    masks = _as_float_array(mask_input, "mask_input")
    size = int(low_res_size)
    if masks.ndim == 4 and masks.shape[1] == 1:
        masks = masks[:, 0]
    if masks.shape != (batch, size, size):
        raise ValueError(
            f"mask_input must be [{batch}, {size}, {size}] low-res logits (an earlier "
            f"prediction's low_res_logits[i:i+1]), got shape {list(masks.shape)}.")
    return masks.astype(np.float32)[:, None, :, :, None]


def batch_model_inputs(points, labels, boxes, original_size, long_side):
    """keras-hub prompt-encoder inputs for B prompts (see `to_model_inputs`).

    Args: the outputs of `check_batch`.

    Returns:
      dict with "points" float32 `[B, N', 2]`, "labels" float32 `[B, N']`,
      "boxes" float32 `[B, 0 or 1, 2, 2]`.
    """
    batch = len(points) if points is not None else len(boxes)
    if points is None:
        points = np.zeros((batch, 0, 2), np.float32)
        labels = np.zeros((batch, 0), np.float32)
    else:
        points = transforms.apply_coords(points, original_size, long_side)
        labels = labels.astype(np.float32)
    if boxes is None:
        out_boxes = np.zeros((batch, 0, 2, 2), np.float32)
        points = np.concatenate([points, np.zeros((batch, 1, 2), np.float32)], axis=1)
        labels = np.concatenate([labels, np.full((batch, 1), PADDING, np.float32)], axis=1)
    else:
        out_boxes = transforms.apply_coords(boxes.reshape(batch, 1, 2, 2), original_size,
                                            long_side)
    return {"points": points, "labels": labels, "boxes": out_boxes}


def to_model_inputs(prompts, original_size, long_side):
    """keras-hub prompt-encoder inputs for one image, in the encoder's input frame.

    Follows segment-anything's conventions: without a box, a padding point (0, 0) with
    label -1 is appended (keras-hub embeds it as "not a point"); with a box, no padding
    point. An absent box is a zero-length box axis, never a dummy box.

    Returns:
      dict with "points" float32 `[1, N', 2]`, "labels" float32 `[1, N']`,
      "boxes" float32 `[1, B, 2, 2]` (B = 0 or 1).
    """
    return batch_model_inputs(
        None if prompts.points is None else prompts.points[None],
        None if prompts.labels is None else prompts.labels[None],
        None if prompts.box is None else prompts.box[None], original_size, long_side)


def single_model_inputs(point_coords, point_labels, box, has_mask, original_size, long_side):
    """Check one `SamPredictor.predict` call's prompts and return its model inputs (as
    `to_model_inputs`). With a mask prompt and no points or box, there is no sparse prompt
    at all, not even a padding point, as in segment-anything.

    Raises:
      ValueError: for invalid prompts (see `check_prompts`).
    """
    if has_mask and point_coords is None and box is None:
        if point_labels is not None:
            raise ValueError("point_labels was given without point_coords.")
        return {"points": np.zeros((1, 0, 2), np.float32),
                "labels": np.zeros((1, 0), np.float32),
                "boxes": np.zeros((1, 0, 2, 2), np.float32)}
    checked = check_prompts(point_coords, point_labels, box, original_size)
    return to_model_inputs(checked, original_size, long_side)
