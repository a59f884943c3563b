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
