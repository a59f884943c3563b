"""Generated CamVid in SegNet's layout for a whole `--recipe cpu-quick` run, plain or harder.

    python benchmarks/camvid_proxy.py --out D            # 612 photos at 360x480, seed 0
    python benchmarks/camvid_proxy.py --out D --harder   # the same scenes, colours less telling
    segkit build-records --data-dir D/CamVid --output-dir R
    segkit train --records R --output-dir O --recipe cpu-quick
    segkit evaluate --model O/model.keras --records R --split test --at original

The plain photos give every class its own flat colour and pattern, which real street photos do
not. `--harder` takes that away in part, as a stand-in for real photos (which cannot be
downloaded here): colours desaturated to 30 %, each class's brightness shifted at random in
each photo, a colour cast and gamma per photo, a Gaussian blur and sensor noise. It is still
far easier than real photos; docs/benchmarks.md gives both runs.
"""

import argparse
import pathlib
import zlib

import numpy as np
from PIL import Image, ImageFilter

from segdata.synthetic.segnet_camvid import write_segnet_camvid


def harden(photo, labels, rng):
    """uint8 [h, w, 3] photo, uint8 [h, w] SegNet class ids -> uint8 [h, w, 3], harder."""
    image = photo.astype(np.float32)
    grey = image.mean(-1, keepdims=True)
    image = grey + 0.3 * (image - grey)
    for value in np.unique(labels):
        image[labels == value] += rng.normal(0, 25)
    image = image * rng.uniform(0.8, 1.2, 3) + rng.normal(0, 10, 3)
    image = 255 * (np.clip(image, 0, 255) / 255) ** rng.uniform(0.7, 1.4)
    blurred = Image.fromarray(image.astype(np.uint8)).filter(ImageFilter.GaussianBlur(1.0))
    noisy = np.asarray(blurred).astype(np.float32) + rng.normal(0, 10, image.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="folder to write CamVid/ into (must not exist)")
    p.add_argument("--num-images", type=int, default=612)
    p.add_argument("--size", default="360,480", help="H,W of the photos")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--harder", action="store_true")
    a = p.parse_args(argv)
    out = pathlib.Path(a.out)
    if out.exists():
        p.error(f"--out {out} exists; pass a new folder")
    size = tuple(int(v) for v in a.size.split(","))
    write_segnet_camvid(out, num_images=a.num_images, image_size=size, seed=a.seed,
                        quirks=False)
    if a.harder:
        for photo in sorted((out / "CamVid").glob("*/*.png")):
            if photo.parent.name.endswith("annot"):
                continue
            labels = np.asarray(Image.open(out / "CamVid" / f"{photo.parent.name}annot" /
                                           photo.name))
            # One generator per photo, seeded by its name: the same photos every run.
            rng = np.random.default_rng([a.seed, zlib.crc32(photo.name.encode())])
            Image.fromarray(harden(np.asarray(Image.open(photo).convert("RGB")), labels,
                                   rng)).save(photo)
    print(f"wrote {out / 'CamVid'} ({a.num_images} photos{', harder' if a.harder else ''})")


if __name__ == "__main__":
    main()
