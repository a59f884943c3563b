"""Generate a Pets-layout folder of photo-like scenes, so nothing here ever needs the real data.

Each image shows one animal-shaped blob (ellipse body, round head, two ears, a tail) in a
fur-like colour and stripe texture, on a textured gradient background with sensor-like noise.
Its trimap is 1 inside, 2 background and 3 on an outline band 1..3 px wide, straddling the
edge as in the real annotations. Names, class ids and list files follow the real dataset (37
breeds: cats capitalised, dogs lowercase). Output is a pure function of the arguments.

`with_quirks=True` also plants each real-world mess the converter must survive (see QUIRKS);
`quirks.json` at the top level names the sample that carries each one.
"""

import io
import json
import os
import pathlib
import shutil

import numpy as np
from PIL import Image, ImageFilter

from segdata.records.labels import BREEDS, CATS, DOGS, LIST_HEADER, breed_info  # noqa: F401 (re-exported)
from segdata.synthetic import pets_quirks as sample_quirks

GENERATOR_VERSION = 3  # bump when output for a given seed changes (benchmarks cache by it)


def _texture(rng, h, w, base, contrast, freq):
    """Colour field [H, W, 3] float32: `base` colour modulated by oriented stripes and a gradient."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, np.pi)
    phase = (np.cos(angle) * xx + np.sin(angle) * yy) * freq + rng.uniform(0, 2 * np.pi)
    stripes = np.sin(phase) + 0.5 * np.sin(2.3 * phase + yy * freq * 0.3)
    grad = (xx / w - 0.5) * rng.uniform(-1, 1) + (yy / h - 0.5) * rng.uniform(-1, 1)
    field = base[None, None, :] * (1 + contrast * stripes[..., None] + 0.4 * grad[..., None])
    return field


def _animal_mask(rng, h, w):
    """Boolean mask [H, W] of one animal-like blob: body ellipse, head disk, ears, tail."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    s = min(h, w) * rng.uniform(0.18, 0.3)  # body half-height
    cy, cx = h * rng.uniform(0.45, 0.65), w * rng.uniform(0.35, 0.65)
    a, b = s * rng.uniform(1.3, 1.8), s
    theta = rng.uniform(-0.4, 0.4)
    dx, dy = xx - cx, yy - cy
    u = dx * np.cos(theta) + dy * np.sin(theta)
    v = -dx * np.sin(theta) + dy * np.cos(theta)
    mask = (u / a) ** 2 + (v / b) ** 2 <= 1
    side = rng.choice([-1, 1])
    hx, hy, hr = cx + side * a * 0.9, cy - b * 0.8, s * rng.uniform(0.6, 0.8)
    mask |= (xx - hx) ** 2 + (yy - hy) ** 2 <= hr ** 2
    for ear in (-1, 1):  # triangles above the head
        ex, ey = hx + ear * hr * 0.55, hy - hr * 0.7
        top = ey - hr * rng.uniform(0.6, 0.9)
        frac = (yy - top) / max(ey - top, 1)
        mask |= (frac >= 0) & (frac <= 1) & (np.abs(xx - ex) <= frac * hr * 0.35)
    tx = cx - side * a * 0.95
    mask |= (np.abs(xx - tx - side * (yy - cy) * -0.3) <= s * 0.12) & (yy > cy - b * 1.2) & (yy < cy)
    return mask


def _grain(rng, h, w, cell, sigma):
    """Smooth random field [H, W] float32: noise on a grid of `cell` px, upsampled bilinearly."""
    small = rng.normal(0, sigma, size=(h // cell + 2, w // cell + 2)).astype(np.float32)
    up = Image.fromarray(small, mode="F").resize(((w // cell + 2) * cell, (h // cell + 2) * cell),
                                                  Image.BILINEAR)
    return np.asarray(up)[:h, :w]


def _dilate(mask, radius):
    if radius == 0:
        return mask
    img = Image.fromarray(mask.astype(np.uint8) * 255).filter(ImageFilter.MaxFilter(2 * radius + 1))
    return np.asarray(img) > 0


def make_scene(rng, h, w):
    """One scene -> (image uint8 [H, W, 3], trimap uint8 [H, W] with values 1..3)."""
    mask = _animal_mask(rng, h, w)
    bg_base = rng.uniform(60, 200, size=3).astype(np.float32)
    fur_base = rng.uniform(30, 230, size=3).astype(np.float32)
    # Keep the animal visibly different from the background, as real pets mostly are.
    while np.abs(fur_base - bg_base).sum() < 120:
        fur_base = rng.uniform(30, 230, size=3).astype(np.float32)
    bg = _texture(rng, h, w, bg_base, 0.12, rng.uniform(0.02, 0.06))
    fur = _texture(rng, h, w, fur_base, 0.25, rng.uniform(0.15, 0.35))
    img = np.where(mask[..., None], fur, bg)
    # Grain at two scales (fur/grass-like blotches plus sensor noise): real photos are busy,
    # and flat synthetic images would make JPEG decoding unrealistically cheap.
    img += _grain(rng, h, w, cell=2, sigma=28)[..., None] + rng.normal(0, 11, img.shape)
    image = np.clip(img, 0, 255).astype(np.uint8)
    band = rng.integers(1, 4)  # outline width in px, split across the edge
    outer = _dilate(mask, band // 2)
    inner = ~_dilate(~mask, band - band // 2)
    trimap = np.full((h, w), 2, np.uint8)
    trimap[outer] = 3
    trimap[inner] = 1
    return image, trimap


def _jpeg(image, **kw):
    out = io.BytesIO()
    # Quality 92 gives about the real photos' bytes per pixel (~100 KB at 500x375), so decode
    # costs in tests and benchmarks resemble the real data's.
    Image.fromarray(image).save(out, format="JPEG", quality=92, **kw)
    return out.getvalue()


def _png(array):
    out = io.BytesIO()
    Image.fromarray(array).save(out, format="PNG")
    return out.getvalue()


def make_sample_data(output_dir, num_images, *, seed=0, with_quirks=False, min_side=250,
                     max_side=500, overwrite=False):
    """Write a Pets-layout folder with `num_images` samples; returns output_dir (pathlib.Path).

    Layout: images/NAME.jpg (RGB JPEG), annotations/trimaps/NAME.png (8-bit gray PNG, 1..3),
    annotations/list.txt, trainval.txt, test.txt. Sides are drawn from [min_side, max_side].
    The folder is generated under a temporary name and renamed when complete; an existing
    non-empty output_dir is refused unless overwrite=True (it is then replaced).
    Raises ValueError for bad arguments (e.g. too few images to carry every quirk).
    """
    if num_images < 1:
        raise ValueError(f"--num-images must be >= 1, got {num_images}")
    if not 8 <= min_side <= max_side:
        raise ValueError(f"need 8 <= min_side <= max_side, got {min_side}, {max_side}")
    if with_quirks and num_images < sample_quirks.MIN_IMAGES:
        raise ValueError(f"--with-quirks needs --num-images >= {sample_quirks.MIN_IMAGES} "
                         f"(one sample per quirk), got {num_images}")
    final = pathlib.Path(output_dir).expanduser().resolve()
    if final.exists() and (not final.is_dir() or any(final.iterdir())) and not overwrite:
        raise ValueError(f"{final} already exists and is not empty; choose a new --output-dir "
                         "or pass --overwrite to replace it")
    final.parent.mkdir(parents=True, exist_ok=True)
    root = final.parent / f".{final.name}.tmp-{os.getpid()}"
    shutil.rmtree(root, ignore_errors=True)
    try:
        _generate(root, num_images, seed, with_quirks, min_side, max_side)
        if final.exists():
            shutil.rmtree(final) if final.is_dir() else final.unlink()
        os.rename(root, final)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return final


def _generate(root, num_images, seed, with_quirks, min_side, max_side):
    images_dir, trimap_dir = root / "images", root / "annotations" / "trimaps"
    images_dir.mkdir(parents=True, exist_ok=True)
    trimap_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    counters, rows = {}, []
    for _ in range(num_images):
        breed = BREEDS[rng.integers(len(BREEDS))]
        counters[breed] = counters.get(breed, 0) + 1
        name = f"{breed}_{counters[breed]}"
        h, w = (int(v) for v in rng.integers(min_side, max_side + 1, size=2))
        image, trimap = make_scene(rng, h, w)
        (images_dir / f"{name}.jpg").write_bytes(_jpeg(image))
        (trimap_dir / f"{name}.png").write_bytes(_png(trimap))
        rows.append((name, *breed_info(breed), counters[breed]))
    rows.sort(key=lambda r: (r[0].lower().rsplit("_", 1)[0], r[4]))
    line = lambda r: f"{r[0]} {r[1]} {r[2]} {r[3]}\n"
    ann = root / "annotations"
    (ann / "list.txt").write_text(LIST_HEADER + "".join(map(line, rows)))
    # Like the real lists, alternate each breed's images between trainval and test.
    (ann / "trainval.txt").write_text("".join(line(r) for r in rows if r[4] % 2 == 1))
    (ann / "test.txt").write_text("".join(line(r) for r in rows if r[4] % 2 == 0))
    if with_quirks:
        names = [r[0] for r in sorted(rows)]
        planted = sample_quirks.plant_quirks(root, names, np.random.default_rng(seed + 1))
        (root / "quirks.json").write_text(json.dumps(planted, indent=2) + "\n")
