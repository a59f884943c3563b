"""The label mask of one image from its objects, and what each object shows in it.

`paint_mask` paints objects in order (later on top) with an optional ignore band;
`visible_masks` gives each object's pixels in that mask, so the COCO instances written beside
the mask (segmodel.sam.labelling.coco_output) describe the same pixels.
"""

import numpy as np

from segdata.formats.base import IGNORE_LABEL
from segdata.formats.pets.labelled import OUTLINE, trimap_from_mask


def paint_mask(objects, size, ignore_width=0):
    """The train-id mask: objects painted in order, later on top, then the ignore band.

    Args:
      objects: list of (bool `[H, W]` mask, train id 1..254).
      size: (H, W).
      ignore_width: total width of the band around each object's edge set to 255, as the
        Pets outline (`trimap_from_mask`): width // 2 px outside the object, the rest inside.

    Returns:
      uint8 `[H, W]`.
    """
    label = np.zeros(tuple(size), np.uint8)
    band = np.zeros(tuple(size), bool)
    for mask, train_id in objects:
        label[mask] = train_id
        if ignore_width:
            band |= trimap_from_mask(mask, ignore_width) == OUTLINE
    label[band] = IGNORE_LABEL
    return label



def visible_masks(masks, keep):
    """Objects painted in order (later on top) -> the pixels each one shows: bool `[H, W]`
    per mask, non-overlapping, inside `keep` (bool `[H, W]`)."""
    covered = ~keep
    out = []
    for mask in reversed(masks):
        out.append(mask & ~covered)
        covered = covered | mask
    return out[::-1]
