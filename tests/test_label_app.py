"""The labelling page's HTTP API (segmodel.sam.label_*), on a tiny random-weight SAM saved as a
local preset and a folder of generated photos. The reference for every mask is SamPredictor
with the shared labelling rule (segmodel.sam.labelling.entries)."""

import base64
import io
import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from label_fixtures import (
    N_PHOTOS,
    call,
    first_nonempty_point,
    load_predictor,
    photo_folder,
    tiny_preset,
)
from PIL import Image

from segdata.formats.pets.labelled import trimap_from_mask
from segmodel.sam.label_app.app import start, stop
from segmodel.sam.labelling import entries as labelling
from segmodel.sam.prompting import files

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    base = tmp_path_factory.mktemp("label")
    tiny_preset(base / "preset")
    photo_folder(base)
    return base


@pytest.fixture(scope="module")
def predictor(base):
    return load_predictor(base / "preset")


@pytest.fixture(scope="module")
def reference(base):
    """A second SamPredictor on the same preset, for the expected masks: the server's own
    predictor is in use by its threads, and the reference must not share its state."""
    return load_predictor(base / "preset")


@pytest.fixture
def server(base, predictor, tmp_path):
    server = start(base / "photos", tmp_path / "out", predictor, port=0)
    yield server
    stop(server)


def _photos(base):
    return sorted(p.name for p in (base / "photos").glob("*.jpg") if not p.is_symlink()
                  and not p.name.startswith("."))


def _mask(answer):
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(answer["mask_png"])))) == 255


def _reference(predictor, base, name, objects):
    predictor.set_image(files.load_image(base / "photos" / name))
    mask, scores = labelling.union_mask(
        predictor, labelling.normalize_prompts({"objects": objects}))
    return mask, scores


def test_token_required_everywhere(server):
    for path in ("/", "/static/label.js", "/api/images", "/api/image/x.jpg"):
        assert call(server, path, token=False)[0] == 403, path
        assert call(server, path, token="wrong")[0] == 403, path
    status, body, _ = call(server, "/api/predict", {"image": "x", "objects": []}, token=False)
    assert status == 403 and "token" in body["error"]
    # The query parameter works as well as the header, and the page carries the token on.
    url = f"/?token={server.token}"
    status, html, _ = call(server, url, token=False)
    assert status == 200 and f"label.js?token={server.token}" in html.decode()
    assert call(server, "/static/label.js", token=False)[0] == 403
    assert call(server, f"/static/label.js?token={server.token}", token=False)[0] == 200


def test_icon_served_without_token(server):
    # Browsers ask for /favicon.ico without the page's query string: a 403 there is a red
    # console error on every load. The icon is public; the page names it in its <head>.
    status, body, headers = call(server, "/favicon.ico", token=False)
    assert status == 200 and headers["Content-Type"] == "image/svg+xml"
    assert body.startswith(b"<svg")
    status, html, _ = call(server, f"/?token={server.token}", token=False)
    assert b'rel="icon"' in html
    assert call(server, "/favicon.ico/x", token=False)[0] == 403  # nothing else is public


def test_images_listed_with_status_and_size(server, base):
    status, images, headers = call(server, "/api/images")
    assert status == 200
    names = [i["name"] for i in images]
    # Sorted; the symlink leading out, the hidden file and the text file are not images here.
    assert names == sorted(_photos(base) + ["broken.png"])
    by_name = {i["name"]: i for i in images}
    assert by_name["broken.png"]["status"] == "unreadable"
    for name in _photos(base):
        height, width = files.load_image(base / "photos" / name).shape[:2]
        assert by_name[name] == {"name": name, "status": "todo", "width": width,
                                 "height": height}
    assert json.loads(headers["X-Segkit-Progress"]) == {"labelled": 0, "total": N_PHOTOS + 1}
    name = _photos(base)[0]
    status, data, headers = call(server, f"/api/image/{name}")
    assert status == 200 and data == (base / "photos" / name).read_bytes()
    assert headers["Content-Type"] == "image/jpeg"


@pytest.mark.parametrize("path", [
    "/api/image/..%2Foutside.jpg", "/api/image/../outside.jpg", "/api/image/%2Fetc%2Fpasswd",
    "/api/image/escape.jpg", "/api/image/notes.txt", "/api/image/.hidden.jpg",
    "/api/image/photos%2F..%2Foutside.jpg", "/api/prompts/..%2Fpreset%2Fconfig.json",
    "/static/..%2Flabel_server.py", "/api/nothing"])
def test_traversal_and_unknown_names_are_404(server, path):
    status, body, _ = call(server, path)
    assert status == 404 and isinstance(body, dict) and "error" in body


def test_posts_outside_the_folder_write_nothing(server, base, tmp_path):
    obj = [{"points": [[5, 5]], "labels": [1], "box": None}]
    for name in ("../outside.jpg", "escape.jpg", str(base / "outside.jpg"), "nope.jpg"):
        for route in ("/api/accept", "/api/predict", "/api/skip"):
            assert call(server, route, {"image": name, "objects": obj})[0] == 404, (route, name)
    assert not (tmp_path / "out").exists()


def test_predict_equals_sampredictor_for_the_same_prompts(server, base, predictor, reference):
    name = _photos(base)[1]
    image = files.load_image(base / "photos" / name)
    height, width = image.shape[:2]
    cases = [
        [{"points": [[width * 0.4, height * 0.5]], "labels": [1], "box": None}],  # multimask
        [{"points": [[width * 0.4, height * 0.5], [3, 4]], "labels": [1, 0], "box": None}],
        [{"points": [], "labels": [], "box": [2, 3, width * 0.7, height * 0.8]}],
        [{"points": [[10, 12]], "labels": [1], "box": None},                   # two objects
         {"points": [], "labels": [], "box": [width * 0.5, 1, width - 1, height * 0.6]}],
    ]
    for objects in cases:
        status, answer, _ = call(server, "/api/predict", {"image": name, "objects": objects})
        assert status == 200, answer
        expected, scores = _reference(reference, base, name, objects)
        got = _mask(answer)
        assert got.shape == (height, width)
        np.testing.assert_array_equal(got, expected)
        np.testing.assert_allclose(answer["scores"], scores, rtol=1e-5, atol=1e-6)
        assert len(answer["scores"]) == len(objects) and answer["ms"] > 0
        # A pure function of the request: asking again gives the same mask.
        assert call(server, "/api/predict", {"image": name, "objects": objects})[1] \
            ["mask_png"] == answer["mask_png"]


def test_bad_prompts_are_400_with_the_predictor_message(server, base, reference):
    name = _photos(base)[0]
    image = files.load_image(base / "photos" / name)
    height, width = image.shape[:2]
    reference.set_image(image)
    with pytest.raises(ValueError) as expected:
        reference.predict([[width + 5, 1]], [1], multimask_output=True)
    status, body, _ = call(server, "/api/predict", {
        "image": name, "objects": [{"points": [[width + 5, 1]], "labels": [1], "box": None}]})
    assert status == 400 and body["error"] == str(expected.value)
    for objects in (None, [], [{"points": [[1, 1]], "labels": [1, 0]}], [{"box": [5, 5, 1, 1]}],
                    [{"points": [[1, 1]], "labels": [7]}], [{"box": None}]):
        status, body, _ = call(server, "/api/predict", {"image": name, "objects": objects})
        assert status == 400 and body["error"], objects
    status, body, _ = call(server, "/api/predict", {"objects": []})
    assert status == 400 and '"image"' in body["error"]


def test_accept_writes_the_predicted_trimap_then_restart_keeps_state(base, predictor,
                                                                     tmp_path, reference):
    out = tmp_path / "out"
    first, second, third = _photos(base)[:3]
    server = start(base / "photos", out, predictor, port=0, outline_width=2)
    try:
        image = files.load_image(base / "photos" / first)
        point, mask = first_nonempty_point(reference, image, labelling.object_mask)
        objects = [{"points": [point], "labels": [1], "box": None}]
        status, answer, _ = call(server, "/api/accept", {"image": first, "objects": objects})
        assert status == 200, answer
        assert answer == {"trimap": f"annotations/trimaps/{pathlib.Path(first).stem}.png",
                          "labelled": 1, "total": N_PHOTOS + 1}
        trimap = np.asarray(Image.open(out / answer["trimap"]))
        np.testing.assert_array_equal(trimap, trimap_from_mask(mask, 2))
        prompts = json.loads((out / "annotations" / "prompts.json").read_text())
        assert prompts[first]["objects"] == [{"points": [point], "labels": [1], "box": None}]
        # The Pets layout keeps COCO instances too, written with the trimap: the object's mask.
        from pycocotools.coco import COCO

        coco = COCO(str(out / "annotations" / "instances.json"))
        (ann,) = coco.loadAnns(coco.getAnnIds())
        assert coco.loadImgs(ann["image_id"])[0]["file_name"] == f"{pathlib.Path(first).stem}.jpg"
        np.testing.assert_array_equal(coco.annToMask(ann).astype(bool), mask)
        assert call(server, "/api/skip", {"image": second})[1]["status"] == "skipped"
        assert call(server, "/api/skip", {"image": "broken.png"})[0] == 200
        status, body, _ = call(server, "/api/skip", {"image": first})
        assert status == 400 and "relabel" in body["error"]
    finally:
        stop(server)
    # The output folder is the state: a new server shows the same statuses and prompts.
    server = start(base / "photos", out, predictor, port=0)
    try:
        statuses = {i["name"]: i["status"] for i in call(server, "/api/images")[1]}
        assert statuses[first] == "labelled" and statuses[second] == "skipped"
        assert statuses["broken.png"] == "skipped" and statuses[third] == "todo"
        assert call(server, f"/api/prompts/{first}")[1] == {"objects": objects}
        assert call(server, f"/api/prompts/{third}")[1] == {"objects": []}
        # Relabel: new prompts replace the trimap and the prompts; the list keeps one entry.
        height, width = image.shape[:2]
        box = [[{"points": [], "labels": [], "box": [1, 1, width - 2, height - 2]}]]
        relabel, _ = _reference(reference, base, first, box[0])
        assert call(server, "/api/accept", {"image": first, "objects": box[0]})[0] == 200
        np.testing.assert_array_equal(np.asarray(Image.open(out / answer["trimap"])),
                                      trimap_from_mask(relabel, 2))
        # A skipped image can be labelled after all.
        point2, _ = first_nonempty_point(reference, files.load_image(base / "photos" / second),
                                         labelling.object_mask)
        obj2 = [{"points": [point2], "labels": [1], "box": None}]
        status, answer, _ = call(server, "/api/accept", {"image": second, "objects": obj2})
        assert status == 200 and answer["labelled"] == 2
    finally:
        stop(server)
    listed = (out / "annotations" / "list.txt").read_text().split("\n")
    stems = sorted(pathlib.Path(n).stem for n in (first, second))
    assert [line.split()[0] for line in listed if line and not line.startswith("#")] == stems
    assert json.loads((out / "annotations" / "skipped.json").read_text()) == \
        {"skipped": ["broken.png"]}
    # The folder builds with build_records unchanged.
    from segdata.records.convert import build_records

    manifest = build_records(out, tmp_path / "records", split="holdout", val_size=1,
                             num_shards=1, workers=1, progress=False)
    text = json.dumps(manifest)
    assert '"num_examples": 1' in text and "skipped.json" not in text
    total = sum(s["num_examples"] for s in manifest["splits"].values())
    assert total == 2


def test_empty_mask_is_refused_and_nothing_written(base, predictor, tmp_path):
    class NothingFound:
        """A SamPredictor whose masks are all empty (random weights cannot be relied on to
        produce one): what the server does with an empty mask is under test, not SAM."""

        def __getattr__(self, attr):
            return getattr(predictor, attr)

        def predict(self, *args, **kwargs):
            masks, scores, low = predictor.predict(*args, **kwargs)
            return np.zeros_like(masks), scores, low

    server = start(base / "photos", tmp_path / "out", NothingFound(), port=0)
    try:
        name = _photos(base)[0]
        objects = [{"points": [[5, 5]], "labels": [1], "box": None}]
        status, body, _ = call(server, "/api/accept", {"image": name, "objects": objects})
        assert status == 400 and "empty" in body["error"] and "skip" in body["error"]
    finally:
        stop(server)
    assert not (tmp_path / "out" / "annotations" / "trimaps").exists()
    assert not (tmp_path / "out" / "annotations" / "list.txt").exists()


def test_unreadable_image_predict_is_400(server):
    status, body, _ = call(server, "/api/predict", {
        "image": "broken.png", "objects": [{"points": [[1, 1]], "labels": [1]}]})
    assert status == 400 and "skip" in body["error"]


def test_tool_prints_the_url_once_ready(base, tmp_path):
    cmd = [sys.executable, str(ROOT / "tools" / "label_app.py"), "--images",
           str(base / "photos"), "--output-dir", str(tmp_path / "out"), "--preset",
           str(base / "preset"), "--port", "0", "--encoder", "thread"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT)
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("http://"):
                break
        url = lines[-1].strip()
        assert url.startswith("http://127.0.0.1:") and "/?token=" in url, lines
        assert "0 / 5 labelled" in "".join(lines)
        import urllib.request

        port = int(url.split(":")[2].split("/")[0])
        token = url.split("token=")[1]
        with urllib.request.urlopen(
                f"http://127.0.0.1:{port}/api/images?token={token}", timeout=60) as answer:
            assert len(json.load(answer)) == N_PHOTOS + 1
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    bad = subprocess.run(cmd[:3] + [str(tmp_path / "missing")] + cmd[4:], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "does not exist" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_process_encoder_gives_the_same_masks(base, predictor, tmp_path, reference):
    """--encoder process (the tool's default): the embedding comes from a child process
    that loads the same preset; masks equal the in-process SamPredictor's."""
    server = start(base / "photos", tmp_path / "out", str(base / "preset"), port=0,
                   encoder="process")
    try:
        encoder = server.session.encoder
        assert encoder is not None and encoder._process.is_alive()
        name = _photos(base)[2]
        image = files.load_image(base / "photos" / name)
        height, width = image.shape[:2]
        objects = [{"points": [[width * 0.3, height * 0.6], [2, 2]], "labels": [1, 0],
                    "box": None}]
        status, answer, _ = call(server, "/api/predict", {"image": name, "objects": objects})
        assert status == 200, answer
        expected, scores = _reference(reference, base, name, objects)
        np.testing.assert_array_equal(_mask(answer), expected)
        np.testing.assert_allclose(answer["scores"], scores, rtol=1e-4, atol=1e-5)
        status, body, _ = call(server, "/api/predict", {
            "image": "broken.png", "objects": [{"points": [[1, 1]], "labels": [1]}]})
        assert status == 400 and "skip" in body["error"]
    finally:
        stop(server)
    assert not encoder._process.is_alive()
    with pytest.raises(ValueError, match="preset"):
        start(base / "photos", tmp_path / "out", predictor, port=0, encoder="process")


def test_rotated_jpeg_and_tiff_are_sent_as_the_pixels_sam_sees(base, predictor, tmp_path):
    """Browsers apply a JPEG's EXIF rotation and cannot draw TIFF; SAM and build_records use
    the stored pixels. The page must show those, or clicks would land elsewhere."""
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(5)
    pixels = rng.integers(0, 256, (30, 50, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    Image.fromarray(pixels).save(photos / "rotated.jpg", exif=exif.tobytes())
    Image.fromarray(pixels).save(photos / "scan.tif")
    server = start(photos, tmp_path / "out", predictor, port=0)
    try:
        images = {i["name"]: i for i in call(server, "/api/images")[1]}
        assert (images["rotated.jpg"]["width"], images["rotated.jpg"]["height"]) == (50, 30)
        for name in ("rotated.jpg", "scan.tif"):
            status, data, headers = call(server, f"/api/image/{name}")
            assert status == 200 and headers["Content-Type"] == "image/png"
            sent = np.asarray(Image.open(io.BytesIO(data)))
            np.testing.assert_array_equal(sent, files.load_image(photos / name))
    finally:
        stop(server)


def test_port_in_use_says_what_to_do(server, base, predictor, tmp_path):
    with pytest.raises(OSError, match="--port 0"):
        start(base / "photos", tmp_path / "out2", predictor, port=server.server_address[1])


# -- classes: the masks layout ---------------------------------------------------------------

CLASSES = ("cat", "dog", "bird")


def _classes():
    from segmodel.sam.labelling.classes import ClassList

    return ClassList(CLASSES)


def _png_b64(mask):
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(mask, np.uint8) * 255).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


@pytest.fixture
def class_server(base, predictor, tmp_path):
    server = start(base / "photos", tmp_path / "out", predictor, port=0, classes=_classes(),
                   refresh_seconds=None)
    yield server
    stop(server)


def test_classes_listed_and_new_endpoints_check_token_and_names(class_server, server):
    status, listed, _ = call(class_server, "/api/classes")
    assert status == 200
    palette = _classes().palette
    assert listed == [{"id": i, "name": n, "color": list(palette[i])}
                      for i, n in enumerate(CLASSES, 1)]
    assert call(server, "/api/classes")[1] == []  # no classes: the Pets layout, as before
    for path in ("/api/classes", "/api/labels/x.jpg", "/api/progress"):
        for srv in (class_server, server):
            assert call(srv, path, token=False)[0] == 403, path
            assert call(srv, path, token="wrong")[0] == 403, path
    for path in ("/api/labels/..%2Foutside.jpg", "/api/labels/escape.jpg",
                 "/api/labels/%2Fetc%2Fpasswd", "/api/labels/nope.jpg"):
        status, body, _ = call(class_server, path)
        assert status == 404 and "error" in body, path
    progress = call(class_server, "/api/progress")[1]
    assert progress == {"labelled": 0, "skipped": 0, "unreadable": 1, "todo": N_PHOTOS,
                        "total": N_PHOTOS + 1,
                        "classes": {n: {"objects": 0, "images": 0} for n in CLASSES}}


def _two_objects(reference, base, name):
    """A point object (dog) and a box object (cat), their SAM masks and an edited mask for
    the second (SAM's plus a brushed rectangle, minus an erased one)."""
    image = files.load_image(base / "photos" / name)
    height, width = image.shape[:2]
    point, point_mask = first_nonempty_point(reference, image, labelling.object_mask)
    box = [2, 3, round(width * 0.6, 1), round(height * 0.7, 1)]
    objects = [{"points": [point], "labels": [1], "box": None, "class": "dog"},
               {"points": [], "labels": [], "box": box, "class": "cat"}]
    reference.set_image(image)
    box_mask, _ = labelling.object_mask(
        reference, labelling.normalize_prompts({"objects": [objects[1]]})[0])
    edited = box_mask.copy()
    edited[height - 12:height - 4, 5:20] = True
    edited[:4, :6] = False
    return image, objects, point_mask, box_mask, edited


def test_class_accept_writes_the_edited_masks_prompts_and_coco(base, predictor, reference,
                                                                tmp_path):
    from segmodel.sam.labelling import coco_output

    out = tmp_path / "out"
    name = _photos(base)[1]
    stem = pathlib.Path(name).stem
    image, objects, point_mask, box_mask, edited = _two_objects(reference, base, name)
    height, width = files.load_image(base / "photos" / _photos(base)[2]).shape[:2]
    server = start(base / "photos", out, predictor, port=0, classes=_classes(),
                   refresh_seconds=None)
    try:
        # predict answers one mask per object beside the union.
        status, answer, _ = call(server, "/api/predict", {"image": name, "objects": objects})
        assert status == 200, answer
        got = [np.asarray(Image.open(io.BytesIO(base64.b64decode(m)))) == 255
               for m in answer["masks_png"]]
        np.testing.assert_array_equal(got[0], point_mask)
        np.testing.assert_array_equal(got[1], box_mask)
        np.testing.assert_array_equal(_mask(answer), point_mask | box_mask)
        sent = [objects[0], dict(objects[1], mask_png=_png_b64(edited))]
        status, answer, _ = call(server, "/api/accept", {"image": name, "objects": sent})
        assert status == 200, answer
        assert answer == {"mask": f"masks/{stem}.png", "labelled": 1, "total": N_PHOTOS + 1,
                          "origin": "new", "changed_fraction": None}  # no model: from scratch
        # Independent of paint_mask: dog (2) where SAM's point mask is, cat (1) on top.
        expected = np.zeros(image.shape[:2], np.uint8)
        expected[point_mask] = 2
        expected[edited] = 1
        np.testing.assert_array_equal(np.asarray(Image.open(out / answer["mask"])), expected)
        labels = call(server, f"/api/labels/{name}")[1]["objects"]
        assert [o["class"] for o in labels] == ["dog", "cat"]
        assert labels[1]["box"] == objects[1]["box"] and labels[0]["points"] == [objects[0]
                                                                                ["points"][0]]
        for saved, mask in zip(labels, (point_mask, edited)):
            decoded = np.asarray(Image.open(io.BytesIO(base64.b64decode(saved["mask_png"]))))
            np.testing.assert_array_equal(decoded == 255, mask)
        progress = call(server, "/api/progress")[1]
        assert progress["labelled"] == 1 and progress["todo"] == N_PHOTOS - 1
        assert progress["classes"] == {"cat": {"objects": 1, "images": 1},
                                       "dog": {"objects": 1, "images": 1},
                                       "bird": {"objects": 0, "images": 0}}
        statuses = {i["name"]: i["status"] for i in call(server, "/api/images")[1]}
        assert statuses[name] == "labelled"
    finally:
        stop(server)  # closing rebuilds prompts.json and instances.json
    coco = json.loads((out / "annotations" / "instances.json").read_text())
    assert [c["name"] for c in coco["categories"]] == ["background", *CLASSES]
    assert [i["file_name"] for i in coco["images"]] == [f"{stem}.jpg"]
    anns = coco["annotations"]
    assert [a["category_id"] for a in anns] == [3, 2]  # train ids 2, 1 (background is 1)
    # "segmentation" is what the mask shows (the cat on top of the dog), "object_mask" the
    # dog as drawn, so re-opening gets it whole and --format coco equals --format masks.
    for annotation, mask in zip(anns, (point_mask & ~edited, edited)):
        np.testing.assert_array_equal(coco_output.decode_mask(annotation["segmentation"]), mask)
        assert annotation["area"] == mask.sum()
    if (point_mask & edited).any():
        np.testing.assert_array_equal(coco_output.decode_mask(anns[0]["object_mask"]), point_mask)
    assert "score" in anns[0] and "score" not in anns[1]  # the edited mask is not SAM's
    prompts = json.loads((out / "prompts.json").read_text())
    assert [o["class"] for o in prompts[f"{stem}.jpg"]["objects"]] == ["dog", "cat"]
    assert json.loads((out / "classes.json").read_text())["classes"] == ["background", *CLASSES]
    # Restarted on the same folder (classes read from classes.json), the label is still there.
    server = start(base / "photos", out, predictor, port=0, layout="masks")
    try:
        assert call(server, "/api/progress")[1]["classes"]["cat"] == {"objects": 1, "images": 1}
        assert len(call(server, f"/api/labels/{name}")[1]["objects"]) == 2
        other = _photos(base)[2]
        status, answer, _ = call(server, "/api/accept", {"image": other, "objects": [dict(
            objects[1], mask_png=_png_b64(np.arange(height * width).reshape(height, width) % 3 == 0))]})
        assert status == 200 and answer["labelled"] == 2, answer
    finally:
        stop(server)
    # The folder builds with build_records (the masks format found by itself).
    from segdata.records.convert import build_records

    manifest = build_records(out, tmp_path / "records", split="holdout", val_size=1,
                             num_shards=1, workers=1, progress=False)
    assert sum(s["num_examples"] for s in manifest["splits"].values()) == 2


def test_bad_masks_and_classes_are_400_naming_the_object(class_server, base, tmp_path):
    name = _photos(base)[0]
    height, width = files.load_image(base / "photos" / name).shape[:2]
    obj = {"points": [[5, 5]], "labels": [1], "box": None, "class": "cat"}
    gray = np.zeros((height, width), np.uint8)
    gray[2:6, 2:6] = 128
    jpeg = io.BytesIO()
    Image.fromarray(gray).save(jpeg, format="JPEG")
    cases = {
        _png_b64(np.ones((height + 1, width), bool)): "image is",
        base64.b64encode(_png_bytes(gray)).decode(): "only 0",
        base64.b64encode(jpeg.getvalue()).decode(): "PNG",
        "not base64!": "base64",
    }
    for mask_png, words in cases.items():
        body = {"image": name, "objects": [dict(obj), dict(obj, mask_png=mask_png)]}
        status, answer, _ = call(class_server, "/api/accept", body)
        assert status == 400 and "objects[1].mask_png" in answer["error"], answer
        assert words in answer["error"], answer
    for route in ("/api/predict", "/api/accept"):
        status, answer, _ = call(class_server, route,
                                 {"image": name, "objects": [dict(obj, **{"class": "cow"})]})
        assert status == 400 and "objects[0].class" in answer["error"] and "cat" in answer["error"]
    assert not (tmp_path / "out" / "masks").exists()


def _png_bytes(pixels):
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def test_pets_layout_takes_edited_masks_and_refuses_classes(server, base, reference, tmp_path):
    name = _photos(base)[2]
    image, objects, point_mask, box_mask, edited = _two_objects(reference, base, name)
    status, answer, _ = call(server, "/api/predict", {"image": name, "objects": objects})
    assert status == 400 and "--classes" in answer["error"]
    plain = [{k: v for k, v in o.items() if k != "class"} for o in objects]
    body = {"image": name, "objects": [plain[0], dict(plain[1], mask_png=_png_b64(edited))]}
    status, answer, _ = call(server, "/api/accept", body)
    assert status == 200, answer
    trimap = np.asarray(Image.open(tmp_path / "out" / answer["trimap"]))
    np.testing.assert_array_equal(trimap, trimap_from_mask(point_mask | edited, 2))


def test_concurrent_accepts_of_one_image_leave_one_whole_accept(base, predictor, tmp_path):
    """Eight "tabs" accept one image at once, each with its own mask and class: the mask
    PNG, prompts.json and instances.json all describe the same one of them."""
    import concurrent.futures

    from segmodel.sam.labelling import coco_output

    out = tmp_path / "out"
    name = _photos(base)[0]
    stem = pathlib.Path(name).stem
    height, width = files.load_image(base / "photos" / name).shape[:2]
    server = start(base / "photos", out, predictor, port=0, classes=_classes(),
                   refresh_seconds=0.05)
    candidates = []
    for k in range(8):
        mask = np.zeros((height, width), bool)
        mask[k:k + 10, 2 * k:2 * k + 12] = True
        candidates.append((mask, CLASSES[k % 3], [[k + 1.5, 2.5]]))

    def accept(candidate):
        mask, cls, points = candidate
        return call(server, "/api/accept", {"image": name, "objects": [
            {"points": points, "labels": [1], "box": None, "class": cls,
             "mask_png": _png_b64(mask)}]})[0]

    try:
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            assert list(pool.map(accept, candidates)) == [200] * 8
    finally:
        stop(server)
    written = np.asarray(Image.open(out / "masks" / f"{stem}.png"))
    matches = [k for k, (mask, cls, _) in enumerate(candidates)
               if np.array_equal(written, mask * np.uint8(CLASSES.index(cls) + 1))]
    assert len(matches) == 1
    mask, cls, points = candidates[matches[0]]
    coco = json.loads((out / "annotations" / "instances.json").read_text())
    (annotation,) = coco["annotations"]
    np.testing.assert_array_equal(coco_output.decode_mask(annotation["segmentation"]), mask)
    assert annotation["category_id"] == CLASSES.index(cls) + 2  # background is category 1
    prompts = json.loads((out / "prompts.json").read_text())
    assert prompts[f"{stem}.jpg"]["objects"][0]["points"] == points
    assert not list(out.rglob(".*.tmp*"))  # no temporary left behind


def test_tool_checks_classes_and_layout_before_loading_sam(base, tmp_path, capsys):
    from segmodel.cli.label_app import main

    args = ["--images", str(base / "photos"), "--output-dir", str(tmp_path / "out"),
            "--preset", str(tmp_path / "no_such_preset")]
    assert main(args + ["--classes", "cat", "dog", "--layout", "pets"]) == 2
    assert "--layout masks" in capsys.readouterr().err
    assert main(args + ["--classes", "cat", "cat"]) == 2
    assert "twice" in capsys.readouterr().err
    assert main(args + ["--classes", str(tmp_path / "missing.json")]) == 2
    assert "not found" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
