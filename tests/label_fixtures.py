"""Shared by the labelling page's tests: a tiny random-weight SAM saved as a local preset, a
folder of generated photos (with the awkward files a real folder holds), and HTTP helpers."""

import json
import os
import pathlib
import shutil
import urllib.error
import urllib.request

import numpy as np

from segmodel.sam import SamPredictor
from segmodel.testing import save_tiny_sam

N_PHOTOS = 4  # readable photos; the folder also holds one undecodable file


def tiny_preset(folder, seed=0):
    """The seeded tiny SAM (segmodel.testing) saved with save_to_preset; returns the folder."""
    return save_tiny_sam(folder, seed)


def photo_folder(base, min_side=48, max_side=64):
    """base/photos: N_PHOTOS generated Pets photos + broken.png, a hidden file, a notes.txt,
    and escape.jpg, a symlink to a photo outside the folder. base/outside.jpg is that photo."""
    from segdata.synthetic.pets import make_sample_data

    pets = make_sample_data(base / "pets", N_PHOTOS + 1, seed=1, min_side=min_side,
                            max_side=max_side)
    photos = base / "photos"
    photos.mkdir()
    jpgs = sorted((pathlib.Path(pets) / "images").glob("*.jpg"))
    for jpg in jpgs[:N_PHOTOS]:
        shutil.copy(jpg, photos / jpg.name)
    shutil.copy(jpgs[N_PHOTOS], base / "outside.jpg")
    os.symlink(base / "outside.jpg", photos / "escape.jpg")
    (photos / "broken.png").write_bytes(b"not a png")
    (photos / ".hidden.jpg").write_bytes(b"")
    (photos / "notes.txt").write_text("not a photo")
    return photos


def load_predictor(preset):
    return SamPredictor.from_preset(str(preset))


def call(server, path, body=None, token=True, method=None):
    """-> (status, parsed JSON or raw bytes, headers). token: True (the header), False, or a str
    sent as the header."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["X-Segkit-Token"] = server.token if token is True else token
    data = None if body is None else json.dumps(body).encode()
    url = f"http://127.0.0.1:{server.server_address[1]}{path}"
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:
            status, raw, got = answer.status, answer.read(), answer.headers
    except urllib.error.HTTPError as err:
        status, raw, got = err.code, err.read(), err.headers
    if got.get("Content-Type", "").startswith("application/json"):
        return status, json.loads(raw), got
    return status, raw, got


def first_nonempty_point(predictor, image, label_rule):
    """A grid point whose mask (under `label_rule(predictor, obj)`) is neither empty nor full:
    random weights give arbitrary masks, so the tests look for one instead of assuming."""
    predictor.set_image(image)
    height, width = image.shape[:2]
    for fy in (0.5, 0.3, 0.7, 0.2, 0.8):
        for fx in (0.5, 0.3, 0.7, 0.2, 0.8):
            point = [round(width * fx, 1), round(height * fy, 1)]
            obj = {"points": np.float32([point]), "labels": np.int32([1]), "box": None}
            mask, _ = label_rule(predictor, obj)
            if 0 < mask.sum() < mask.size:
                return point, mask
    raise AssertionError("no grid point gives a partial mask with this random SAM")
