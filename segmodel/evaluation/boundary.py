"""Boundary F-score of a binary mask, as the DAVIS benchmark's F measure (Perazzi et al., 2016).

Boundary pixels of the predicted and the true mask are matched within a tolerance (a disk of
`tolerance` pixels): precision is the share of predicted boundary pixels near a true one, recall
the share of true boundary pixels near a predicted one, F their harmonic mean. A region edge that
is only the image border is not a boundary (DAVIS's seg2bmap does the same).
"""

import numpy as np


def boundary(mask):
    """bool [H, W] -> bool [H, W]: pixels of `mask` with a 4-neighbour outside it."""
    mask = np.asarray(mask, bool)
    padded = np.pad(mask, 1, mode="edge")  # edge padding: the image border is no boundary
    inside = (padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:])
    return mask & ~inside


def dilate(mask, radius):
    """bool [H, W] grown by a disk of `radius` pixels (zero outside the image)."""
    mask = np.asarray(mask, bool)
    height, width = mask.shape
    padded = np.pad(mask, radius)
    out = np.zeros_like(mask)
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            if dy * dy + dx * dx <= radius * radius:
                out |= padded[radius + dy:radius + dy + height, radius + dx:radius + dx + width]
    return out


def boundary_f1(truth, pred, tolerance=2, valid=None):
    """F-score of the boundaries of two binary masks.

    Args:
      truth, pred: bool [H, W] (e.g. `labels == 0` for the foreground).
      tolerance: matching distance in pixels (2, as in DAVIS at its default bound_th).
      valid: optional bool [H, W]; boundary pixels outside it (ignored labels) do not count.

    Returns:
      float in [0, 1]: 1 when neither mask has a boundary, 0 when only one has.
    """
    true_edge, pred_edge = boundary(truth), boundary(pred)
    if valid is not None:
        true_edge &= valid
        pred_edge &= valid
    n_true, n_pred = int(true_edge.sum()), int(pred_edge.sum())
    if n_true == 0 and n_pred == 0:
        return 1.0
    if n_true == 0 or n_pred == 0:
        return 0.0
    precision = np.sum(pred_edge & dilate(true_edge, tolerance)) / n_pred
    recall = np.sum(true_edge & dilate(pred_edge, tolerance)) / n_true
    return 0.0 if precision + recall == 0 else float(2 * precision * recall / (precision + recall))
