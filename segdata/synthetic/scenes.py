"""Multi-class photo-like scenes: random shapes of several classes over a textured background.

Each class has one fixed appearance (hue, texture pattern and frequency) across the whole
dataset, so a tiny model can learn class from colour and texture; the background is a
low-saturation field. Per image the appearance is jittered a little and sensor-like grain is
added, so images are not flat. Shapes are polygons (ellipses are sampled as 20-gons) rasterised
by PIL, so the same vertices can be written to COCO / Cityscapes polygon files.
"""

import colorsys
import dataclasses

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

PATTERNS = ("stripes", "checks", "dots", "waves")


@dataclasses.dataclass(frozen=True)
class Look:
    """A class's appearance: base colour (r, g, b) in 0..255, pattern name, spatial frequency
    (radians per px) and contrast (relative amplitude of the pattern)."""
    rgb: tuple
    pattern: str
    freq: float
    contrast: float


@dataclasses.dataclass
class Shape:
    """One object: `label` (the layout's own value for its class), `polygons` (list of flat
    [x0, y0, x1, y1, ...] float lists, image coordinates) and `mask` (bool [H, W])."""
    label: int
    polygons: list
    mask: np.ndarray

    @property
    def area(self):
        return int(self.mask.sum())


def class_looks(labels):
    """{label: Look} for the drawn classes, hues spread evenly so classes stay distinct."""
    looks = {}
    for i, label in enumerate(labels):
        hue = (i + 0.5) / len(labels)
        rgb = colorsys.hsv_to_rgb(hue, 0.75, 0.55 + 0.3 * (i % 2))
        looks[label] = Look(tuple(round(255 * c) for c in rgb), PATTERNS[i % len(PATTERNS)],
                            0.25 + 0.2 * (i % 3), 0.25)
    return looks


def background_look(rng):
    """A low-saturation look, different for every image (so background is learnable as
    'dull and smooth', not as one colour)."""
    grey = rng.uniform(90, 180)
    tint = rng.uniform(-18, 18, size=3)
    return Look(tuple(float(v) for v in grey + tint), "waves", float(rng.uniform(0.03, 0.08)),
                0.15)


def texture(rng, h, w, look):
    """Colour field float32 [H, W, 3]: the look's colour (jittered +-10 %) times its pattern."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    f, angle = look.freq, rng.uniform(0, np.pi)
    u = np.cos(angle) * xx + np.sin(angle) * yy
    v = -np.sin(angle) * xx + np.cos(angle) * yy
    p1, p2 = rng.uniform(0, 2 * np.pi, size=2)
    if look.pattern == "stripes":
        s = np.sin(u * f + p1)
    elif look.pattern == "checks":
        s = np.sign(np.sin(u * f + p1) * np.sin(v * f + p2)) * 0.8
    elif look.pattern == "dots":
        s = np.cos(u * f + p1) * np.cos(v * f + p2)
    else:
        s = np.sin(u * f + p1) + 0.5 * np.sin(v * f * 1.7 + p2)
    base = np.asarray(look.rgb, np.float32) * rng.uniform(0.9, 1.1)
    return base[None, None, :] * (1 + look.contrast * s[..., None])


def polygon_mask(polygons, h, w):
    """bool [H, W]: union of the flat-coordinate polygons, filled by PIL."""
    img = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(img)
    for poly in polygons:
        draw.polygon([(poly[i], poly[i + 1]) for i in range(0, len(poly), 2)], fill=1)
    return np.asarray(img) > 0


def _clip(points, h, w):
    pts = np.asarray(points, np.float64)
    pts[:, 0] = np.clip(pts[:, 0], 0, w - 1)
    pts[:, 1] = np.clip(pts[:, 1], 0, h - 1)
    return [round(float(v), 1) for v in pts.reshape(-1)]


def ellipse(rng, cx, cy, a, b, h, w, n=20, theta=None):
    """Flat polygon of an ellipse (axes a, b; turned by theta, random when None)."""
    theta = rng.uniform(0, np.pi) if theta is None else theta
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    x, y = a * np.cos(t), b * np.sin(t)
    return _clip(np.stack([cx + x * np.cos(theta) - y * np.sin(theta),
                           cy + x * np.sin(theta) + y * np.cos(theta)], -1), h, w)


def star(rng, cx, cy, r, h, w):
    """A star-shaped (so simple, never self-crossing) polygon of 5..9 vertices."""
    n = int(rng.integers(5, 10))
    t = np.sort(rng.uniform(0, 2 * np.pi, n))
    rad = r * rng.uniform(0.55, 1.0, n)
    return _clip(np.stack([cx + rad * np.cos(t), cy + rad * np.sin(t)], -1), h, w)


def rectangle(x0, y0, x1, y1, h, w):
    return _clip([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], h, w)


def random_polygons(rng, h, w, kind=None, parts=1):
    """Polygons of one random object: kind "ellipse", "star" or "rect"; `parts` > 1 gives
    separate pieces (an occluded object, as COCO stores it)."""
    kind = kind or ("ellipse", "star", "rect")[int(rng.integers(3))]
    side = min(h, w)
    r = side * rng.uniform(0.13, 0.26) / np.sqrt(parts)
    cx, cy = w * rng.uniform(0.2, 0.8), h * rng.uniform(0.2, 0.8)
    polys = []
    for k in range(parts):
        px = cx + (k - (parts - 1) / 2) * 2.4 * r
        if kind == "ellipse":
            a, b = r * rng.uniform(1.0, 1.5), r * rng.uniform(0.6, 1.0)
            polys.append(ellipse(rng, px, cy, a, b, h, w))
        elif kind == "star":
            polys.append(star(rng, px, cy, r * 1.2, h, w))
        else:
            a, b = r * rng.uniform(0.8, 1.4), r * rng.uniform(0.6, 1.1)
            polys.append(rectangle(px - a, cy - b, px + a, cy + b, h, w))
    return polys


def random_objects(rng, h, w, labels, count=(3, 5), parts_prob=0.0):
    """Shapes of `count` (lo, hi inclusive) objects whose labels come from `labels`, at least
    two different ones; sorted by decreasing area (so small objects end up on top)."""
    n = int(rng.integers(count[0], count[1] + 1))
    labels = list(labels)
    first = [labels[int(i)] for i in rng.choice(len(labels), size=min(2, len(labels)), replace=False)]
    chosen = first + [labels[int(i)] for i in rng.integers(0, len(labels), size=n - len(first))]
    shapes = []
    for label in chosen:
        parts = 2 if rng.uniform() < parts_prob else 1
        for _ in range(20):  # redraw until big enough to survive occlusion and a VOC band
            polys = random_polygons(rng, h, w, parts=parts)
            mask = polygon_mask(polys, h, w)
            if mask.sum() >= h * w / 150:
                shapes.append(Shape(label, polys, mask))
                break
    return sorted(shapes, key=lambda s: -s.area)


def render(rng, h, w, shapes, looks, background=None):
    """uint8 [H, W, 3] photo: background look, then each shape's look where its mask is set,
    in list order (later shapes cover earlier ones), then two-scale grain and noise."""
    img = texture(rng, h, w, background or background_look(rng))
    for shape in shapes:
        img = np.where(shape.mask[..., None], texture(rng, h, w, looks[shape.label]), img)
    small = rng.normal(0, 10, size=(h // 3 + 2, w // 3 + 2)).astype(np.float32)
    grain = np.asarray(Image.fromarray(small).resize(
        ((w // 3 + 2) * 3, (h // 3 + 2) * 3), Image.BILINEAR))[:h, :w]
    img = img + grain[..., None] + rng.normal(0, 5, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def paint(shapes, h, w, fill=0, value=None, dtype=np.uint8):
    """[H, W] map: `fill`, then value(shape) (default shape.label) in list order."""
    out = np.full((h, w), fill, dtype)
    for i, shape in enumerate(shapes):
        out[shape.mask] = shape.label if value is None else value(i, shape)
    return out


def boundary_band(instances, width):
    """bool [H, W]: pixels within about width/2 px of a change of value in `instances` (any
    integer map: an object's edge against background or another object), as VOC's 255 band."""
    img = Image.fromarray(instances.astype(np.int32))
    size = 2 * (width // 2) + 1
    hi = np.asarray(img.filter(ImageFilter.MaxFilter(size)))
    lo = np.asarray(img.filter(ImageFilter.MinFilter(size)))
    return hi != lo
