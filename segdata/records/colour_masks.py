"""Colour masks -> train ids: every colour matched exactly against the dataset's colour table.

CVAT's and Datumaro's exports (VOC `labelmap.txt`, CamVid and Cityscapes `label_colors.txt`)
store masks as RGB images; `map_colours` turns one into train ids through the
(r, g, b, train id) table of `segdata.formats.base.MaskDecoder.colours`. PIL and numpy only:
it runs in the converter's worker processes.
"""

import numpy as np
from PIL import Image


class MaskValueError(ValueError):
    """A decodable mask whose values cannot be trusted as train ids."""


def map_colours(img, colours):
    """Colour mask -> uint8 train ids via (r, g, b, id) tuples, each colour matched exactly.

    Fast path: PIL maps every pixel to a label-map colour in C (`quantize` onto the label map
    as a palette, no dithering), and the result is kept only when mapping it back gives the
    original image exactly. PIL's colour lookup works at reduced precision, so close colours
    ((250, 50, 83) and (250, 50, 86)) can land on one entry; then, or when some colour is not
    in the label map, the exact path packs pixels to 24-bit keys and looks them up with a
    binary search over the label map's sorted keys. Raises MaskValueError naming the colours
    (up to 10) the label map does not name.
    """
    from PIL import ImageChops

    if not colours:
        raise MaskValueError("the label map (labelmap.txt) names no colours")
    rgb_img = img.convert("RGB")
    if len(colours) <= 256:
        flat = [c for r, g, b, _ in colours for c in (r, g, b)]
        palette = Image.new("P", (1, 1))
        palette.putpalette(flat + flat[:3] * (256 - len(colours)))
        indexed = rgb_img.quantize(palette=palette, dither=Image.Dither.NONE)
        if ImageChops.difference(indexed.convert("RGB"), rgb_img).getbbox() is None:
            lut = np.full(256, colours[0][3], np.uint8)  # padding repeats the first colour
            lut[:len(colours)] = [c[3] for c in colours]
            return lut[np.asarray(indexed)]
    rgb = np.asarray(rgb_img, np.uint32)
    packed = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    keys = np.array([(r << 16) | (g << 8) | b for r, g, b, _ in colours], np.uint32)
    order = np.argsort(keys, kind="stable")
    keys, ids = keys[order], np.array([c[3] for c in colours], np.int64)[order]
    pos = np.minimum(np.searchsorted(keys, packed), len(keys) - 1)
    known = keys[pos] == packed
    if not known.all():
        bad = [(int(k) >> 16, (int(k) >> 8) & 255, int(k) & 255)
               for k in np.unique(packed[~known])]
        raise MaskValueError(f"{len(bad)} colour(s) are not in the label map: "
                             f"{', '.join(map(str, bad[:10]))}{' ...' if len(bad) > 10 else ''}; "
                             "add them to the label map (labelmap.txt, label_colors.txt) or "
                             "repaint those pixels")
    return ids.astype(np.uint8)[pos]


def is_colour(img):
    """True for an RGB(A) image whose channels differ somewhere (not gray saved as RGB)."""
    if img.mode not in ("RGB", "RGBA"):
        return False
    rgb = np.asarray(img)[..., :3]
    return not (np.array_equal(rgb[..., 0], rgb[..., 1])
                and np.array_equal(rgb[..., 0], rgb[..., 2]))
