"""The labelling page in a real browser: Playwright driving Debian's Chromium (Playwright's own
browser download is not reachable from the build machines).

Skipped with the reason when Playwright or Chromium is missing, except under CI=true, where a
skip would hide a broken page: there they fail (`.ci/run` installs Chromium first).
Set SEGKIT_SCREENSHOT=path.png to keep the screenshot (the README's is made this way).
"""

import base64
import io
import json
import os
import pathlib
import shutil
import sys

import numpy as np
import pytest
from label_fixtures import N_PHOTOS, first_nonempty_point, load_predictor, photo_folder, tiny_preset
from PIL import Image

from segdata.formats.pets.labelled import trimap_from_mask
from segmodel.sam.label_app.app import start, stop
from segmodel.sam.labelling import entries as labelling
from segmodel.sam.prompting import files

pytestmark = pytest.mark.browser

CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
TINT, ALPHA = np.array([30, 144, 255]), 120 / 255  # label.js's overlay colour


def _chromium_or_skip():
    reason = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        reason = "Playwright is not installed (pip install -e '.[dev]')"
    found = next((p for p in CHROMIUM_PATHS if os.path.exists(p)), shutil.which("chromium"))
    if reason is None and found is None:
        reason = ("no Chromium found at /usr/bin/chromium (Debian/Ubuntu: apt-get install -y "
                  "--no-install-recommends chromium)")
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true: the browser tests must run, but {reason}")
        pytest.skip(reason)
    return found


@pytest.fixture(scope="module")
def browser():
    executable = _chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    base = tmp_path_factory.mktemp("label_browser")
    tiny_preset(base / "preset")
    photo_folder(base, min_side=120, max_side=160)
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
def page(browser, base, predictor, tmp_path):
    server = start(base / "photos", tmp_path / "out", predictor, port=0)
    page = browser.new_page(viewport={"width": 1000, "height": 640})
    page.sent = []  # the /api/predict bodies, as the server received them
    page.on("request", lambda r: r.url.endswith("/api/predict") and
            page.sent.append(json.loads(r.post_data)))
    page.refused = []  # answers of 400 and above (a refused icon would be one, every load)
    page.on("response", lambda r: r.status >= 400 and page.refused.append((r.status, r.url)))
    page.goto(server.url)
    page.server, page.out = server, tmp_path / "out"
    yield page
    page.close()
    stop(server)


def _photos(base):
    return sorted(p.name for p in (base / "photos").glob("*.jpg") if not p.is_symlink()
                  and not p.name.startswith("."))


def _order(base):
    """The page's list: every image, the unreadable one included, in name order."""
    return sorted(_photos(base) + ["broken.png"])


def _click(page, x, y, width, height, **kwargs):
    """Click image pixel (x, y) of the canvas, whatever its CSS size."""
    box = page.locator("canvas#view").bounding_box()
    page.mouse.click(box["x"] + (x + 0.5) * box["width"] / width,
                     box["y"] + (y + 0.5) * box["height"] / height, **kwargs)


def _wait_for_prediction(page, count):
    page.wait_for_function(f"document.getElementById('view').dataset.predictions >= {count}")


def _reference(predictor, image, objects):
    predictor.set_image(image)
    return labelling.union_mask(predictor, labelling.normalize_prompts({"objects": objects}))[0]


def test_click_shows_overlay_enter_writes_trimap(page, base, predictor, reference):
    from playwright.sync_api import expect

    first = _photos(base)[0]  # the first image still to do (broken.png is unreadable)
    image = files.load_image(base / "photos" / first)
    height, width = image.shape[:2]
    expect(page.locator("#status")).to_contain_text(f"0 / {N_PHOTOS + 1} labelled")
    expect(page.locator("#name")).to_have_text(first)
    page.wait_for_function(f"document.getElementById('view').width === {width}")
    for key in ("Enter", "z", "Esc", "n", "s"):  # the shortcuts are listed on the page
        expect(page.locator("#help")).to_contain_text(key)
    page.wait_for_load_state("networkidle")
    assert page.refused == []  # the page, its files, its icon and the first photo all load

    point, _ = first_nonempty_point(reference, image, labelling.object_mask)
    _click(page, point[0], point[1], width, height)
    _wait_for_prediction(page, 1)
    objects = page.sent[-1]["objects"]
    assert len(objects) == 1 and objects[0]["labels"] == [1] and objects[0]["box"] is None
    assert np.allclose(objects[0]["points"], [point], atol=1.0)  # offsetX/Y -> image px
    mask = _reference(reference, image, objects)
    area = int(page.locator("canvas#view").get_attribute("data-mask-area"))
    assert area == mask.sum() > 0
    # The overlay is drawn: masked pixels are tinted, the others show the photo.
    pixels = np.array(page.evaluate(f"""() => Array.from(document.getElementById('view')
        .getContext('2d').getImageData(0, 0, {width}, {height}).data)"""), np.float64)
    pixels = pixels.reshape(height, width, 4)[..., :3]
    near = np.zeros_like(mask)  # the point marker covers a few pixels around the click
    near[max(0, int(point[1]) - 6):int(point[1]) + 7, max(0, int(point[0]) - 6):int(point[0]) + 7] = 1
    tinted = image * (1 - ALPHA) + TINT * ALPHA
    assert np.median(np.abs(pixels - tinted)[mask & ~near]) < 8
    assert np.median(np.abs(pixels - image)[~mask & ~near]) < 8

    shot = os.environ.get("SEGKIT_SCREENSHOT")
    page.screenshot(path=shot or str(page.out.parent / "label_page.png"))

    page.keyboard.press("Enter")
    expect(page.locator("#status")).to_contain_text(f"1 / {N_PHOTOS + 1} labelled")
    trimap_path = page.out / "annotations" / "trimaps" / f"{pathlib.Path(first).stem}.png"
    np.testing.assert_array_equal(np.asarray(Image.open(trimap_path)), trimap_from_mask(mask))
    expect(page.locator("#name")).to_have_text(_photos(base)[1])  # on to the next to do
    expect(page.locator(f"#images li[data-name='{first}'] .st")).to_have_text("labelled")
    # Reopened, the accepted image shows its prompts and mask again, ready to relabel.
    sent = len(page.sent)
    page.locator(f"#images li[data-name='{first}']").click()
    expect(page.locator("#name")).to_have_text(first)
    _wait_for_prediction(page, 2)
    assert len(page.sent) == sent + 1 and page.sent[-1]["objects"] == objects
    assert int(page.locator("canvas#view").get_attribute("data-mask-area")) == mask.sum()
    page.keyboard.press("z")  # restored prompts undo like new ones
    page.wait_for_function("!('maskArea' in document.getElementById('view').dataset)")


def test_background_points_box_undo_clear_skip_and_arrows(page, base, predictor, reference):
    from playwright.sync_api import expect

    names = _photos(base)
    image = files.load_image(base / "photos" / names[0])
    height, width = image.shape[:2]
    page.wait_for_function(f"document.getElementById('view').width === {width}")
    _click(page, width * 0.5, height * 0.5, width, height)
    _wait_for_prediction(page, 1)
    _click(page, width * 0.2, height * 0.2, width, height, button="right")
    _wait_for_prediction(page, 2)
    page.keyboard.down("Shift")
    _click(page, width * 0.8, height * 0.2, width, height)
    page.keyboard.up("Shift")
    _wait_for_prediction(page, 3)
    assert page.sent[-1]["objects"][0]["labels"] == [1, 0, 0]
    page.keyboard.press("z")
    _wait_for_prediction(page, 4)
    assert page.sent[-1]["objects"][0]["labels"] == [1, 0]
    # n starts a second object; a drag draws its box.
    page.keyboard.press("n")
    box = page.locator("canvas#view").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.1, box["y"] + box["height"] * 0.1)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.7, steps=5)
    page.mouse.up()
    _wait_for_prediction(page, 5)
    objects = page.sent[-1]["objects"]
    assert len(objects) == 2 and objects[1]["points"] == []
    x0, y0, x1, y1 = objects[1]["box"]
    assert abs(x0 - width * 0.1) < 2 and abs(y1 - height * 0.7) < 2
    area = int(page.locator("canvas#view").get_attribute("data-mask-area"))
    assert area == _reference(reference, image, objects).sum()
    page.keyboard.press("Escape")
    page.wait_for_function("!('maskArea' in document.getElementById('view').dataset)")
    page.keyboard.press("Enter")  # nothing to accept: the page says so, nothing is written
    expect(page.locator("#message")).to_contain_text("Add a point or a box")
    assert not (page.out / "annotations" / "list.txt").exists()
    page.keyboard.press("s")
    expect(page.locator(f"#images li[data-name='{names[0]}'] .st")).to_have_text("skipped")
    expect(page.locator("#name")).to_have_text(names[1])
    order = _order(base)
    at = order.index(names[1])
    page.keyboard.press("ArrowRight")
    expect(page.locator("#name")).to_have_text(order[at + 1])
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    expect(page.locator("#name")).to_have_text(order[at - 1])
    assert json.loads((page.out / "annotations" / "skipped.json").read_text()) == \
        {"skipped": [names[0]]}
    # An unreadable file is listed, says so when opened, and can be skipped.
    page.locator("#images li[data-name='broken.png']").click()
    expect(page.locator("#message")).to_contain_text("cannot be decoded")
    page.keyboard.press("s")
    expect(page.locator("#images li[data-name='broken.png'] .st")).to_have_text("skipped")


def test_missing_chromium_skips_locally_and_fails_under_ci(monkeypatch):
    here = sys.modules[__name__]
    monkeypatch.setattr(here, "CHROMIUM_PATHS", ("/nonexistent/chromium",))
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install"):
        _chromium_or_skip()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        _chromium_or_skip()


# -- classes, brush and eraser ---------------------------------------------------------------

CLASSES = ("cat", "dog", "bird")


@pytest.fixture
def class_page(browser, base, predictor, tmp_path):
    from segmodel.sam.labelling.classes import ClassList

    server = start(base / "photos", tmp_path / "out", predictor, port=0,
                   classes=ClassList(CLASSES), refresh_seconds=None)
    page = browser.new_page(viewport={"width": 1000, "height": 640})
    page.sent, page.accepted = [], []
    page.on("request", lambda r: r.url.endswith("/api/predict") and
            page.sent.append(json.loads(r.post_data)))
    page.on("request", lambda r: r.url.endswith("/api/accept") and
            page.accepted.append(json.loads(r.post_data)))
    page.goto(server.url)
    page.server, page.out = server, tmp_path / "out"
    yield page
    page.close()
    stop(server)


def brushed(strokes, shape, mask=None):
    """numpy redo of label.js's paintSegment: pixels whose centre is within the radius of a
    stroke's polyline, on for the brush, off for the eraser."""
    mask = np.zeros(shape, bool) if mask is None else mask.copy()
    cy, cx = np.mgrid[:shape[0], :shape[1]] + 0.5
    for s in strokes:
        points, r = s["points"], s["radius"]
        for k in range(len(points)):
            (x0, y0), (x1, y1) = points[max(0, k - 1)], points[k]
            dx, dy = x1 - x0, y1 - y0
            len2 = dx * dx + dy * dy
            t = ((cx - x0) * dx + (cy - y0) * dy) / len2 if len2 > 0 else np.zeros(shape)
            t = np.clip(t, 0, 1)
            ex, ey = cx - (x0 + t * dx), cy - (y0 + t * dy)
            mask[ex * ex + ey * ey <= r * r] = not s["erase"]
    return mask


def _drag(page, points, width, height):
    box = page.locator("canvas#view").bounding_box()
    at = [(box["x"] + (x + 0.5) * box["width"] / width,
           box["y"] + (y + 0.5) * box["height"] / height) for x, y in points]
    page.mouse.move(*at[0])
    page.mouse.down()
    for x, y in at[1:]:
        page.mouse.move(x, y, steps=4)
    page.mouse.up()


def _area(page):
    return int(page.locator("canvas#view").get_attribute("data-mask-area"))


def test_class_brush_accept_writes_class_mask_and_coco_then_reopens(class_page, base,
                                                                      reference):
    from playwright.sync_api import expect

    from segmodel.sam.labelling import coco_output

    page = class_page
    first = _photos(base)[0]
    image = files.load_image(base / "photos" / first)
    height, width = image.shape[:2]
    page.wait_for_function(f"document.getElementById('view').width === {width}")
    expect(page.locator("#classes button")).to_have_count(len(CLASSES))
    page.keyboard.press("2")  # pick class 2, "dog"
    expect(page.locator("#classes button[data-class='dog']")).to_have_class("active")
    point, _ = first_nonempty_point(reference, image, labelling.object_mask)
    _click(page, point[0], point[1], width, height)
    _wait_for_prediction(page, 1)
    assert page.sent[-1]["objects"][0]["class"] == "dog"
    sam = _reference(reference, image, page.sent[-1]["objects"])  # SAM's mask of the click
    assert _area(page) == sam.sum()
    expect(page.locator("#objects li")).to_have_count(1)
    expect(page.locator("#objects li")).to_contain_text("dog")

    # Brush a stroke where SAM's mask is not (if it can be found), then erase and undo.
    page.locator("#brush-size").fill("9")
    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("b")
    expect(page.locator("button#brush")).to_have_class("active")
    _drag(page, [(width * 0.1, height * 0.85), (width * 0.45, height * 0.9)], width, height)
    page.wait_for_function("document.getElementById('view').dataset.strokes >= 1")
    strokes = page.evaluate("window.segkitStrokes()")[0]
    assert len(strokes) == 1 and strokes[0]["radius"] == 4.5 and not strokes[0]["erase"]
    expected = brushed(strokes, (height, width), sam)
    assert (expected & ~sam).sum() > 20  # the stroke added pixels
    page.wait_for_function(f"document.getElementById('view').dataset.maskArea == "
                           f"{expected.sum()}")
    page.keyboard.press("e")
    expect(page.locator("button#eraser")).to_have_class("active")
    _drag(page, [(width * 0.2, height * 0.88), (width * 0.3, height * 0.88)], width, height)
    erased = brushed(page.evaluate("window.segkitStrokes()")[0], (height, width), sam)
    assert erased.sum() < expected.sum()
    page.wait_for_function(f"document.getElementById('view').dataset.maskArea == {erased.sum()}")
    page.keyboard.press("z")  # undo covers strokes
    page.wait_for_function(f"document.getElementById('view').dataset.maskArea == "
                           f"{expected.sum()}")
    # The overlay shows the class colour where the brush added pixels.
    dog = np.array(page.server.session.classes.palette[2])  # /api/classes' colour of id 2
    pixels = np.array(page.evaluate(f"""() => Array.from(document.getElementById('view')
        .getContext('2d').getImageData(0, 0, {width}, {height}).data)"""), np.float64)
    pixels = pixels.reshape(height, width, 4)[..., :3]
    tinted = image * (1 - ALPHA) + dog * ALPHA
    assert np.median(np.abs(pixels - tinted)[expected & ~sam]) < 8

    page.keyboard.press("Enter")
    expect(page.locator("#counts")).to_contain_text(f"1 / {N_PHOTOS + 1} labelled")
    (sent,) = page.accepted[-1]["objects"]
    assert sent["class"] == "dog"
    shown = np.asarray(Image.open(io.BytesIO(base64.b64decode(sent["mask_png"])))
                       .convert("L")) == 255
    np.testing.assert_array_equal(shown, expected)  # what was sent is what was shown
    stem = pathlib.Path(first).stem
    written = np.asarray(Image.open(page.out / "masks" / f"{stem}.png"))
    np.testing.assert_array_equal(written, expected.astype(np.uint8) * 2)  # class 2
    page.server.session.folder.flush()
    coco = json.loads((page.out / "annotations" / "instances.json").read_text())
    (annotation,) = coco["annotations"]
    assert annotation["category_id"] == 3  # class 2; background is category 1
    np.testing.assert_array_equal(coco_output.decode_mask(annotation["segmentation"]), expected)
    expect(page.locator("#class-progress")).to_contain_text("dog: 1 objects in 1 images")

    # Reload: the labelled image shows its saved object and mask again.
    page.reload()
    page.wait_for_function("document.getElementById('view').width > 0")
    page.locator(f"#images li[data-name='{first}']").click()
    expect(page.locator("#name")).to_have_text(first)
    expect(page.locator("#objects li")).to_have_count(1)
    expect(page.locator("#objects li")).to_contain_text("dog")
    page.wait_for_function(f"document.getElementById('view').dataset.maskArea == "
                           f"{expected.sum()}")
    # Objects can be added and deleted; the class of the selected one changed (key 3).
    page.keyboard.press("n")
    expect(page.locator("#objects li")).to_have_count(2)
    page.keyboard.press("Delete")
    expect(page.locator("#objects li")).to_have_count(1)
    page.locator("#objects li").first.click()
    page.keyboard.press("3")
    expect(page.locator("#objects li")).to_contain_text("bird")


# -- pre-labels from a trained model ---------------------------------------------------------


@pytest.fixture
def model_page(browser, base, predictor, tmp_path):
    from segmodel.testing import save_tiny_run

    run = save_tiny_run(tmp_path / "run", seed=3)
    server = start(base / "photos", tmp_path / "out", predictor, port=0, model=run)
    page = browser.new_page(viewport={"width": 1000, "height": 640})
    page.accepted = []
    page.on("request", lambda r: r.url.endswith("/api/accept") and
            page.accepted.append(json.loads(r.post_data)))
    page.goto(server.url)
    page.server, page.out, page.run = server, tmp_path / "out", run
    yield page
    page.close()
    stop(server)


def test_prelabelled_image_erased_and_accepted_is_recorded_as_edited(model_page, base):
    import keras
    import tensorflow as tf
    from playwright.sync_api import expect

    from segdata.input import transforms

    page = model_page
    first = _photos(base)[0]
    image = files.load_image(base / "photos" / first)
    height, width = image.shape[:2]
    # The model's own arg-max at the photo's size (probabilities resized bilinearly).
    model = keras.models.load_model(page.run, compile=False)
    small = transforms.resize_image(image, (32, 32)).numpy().astype(np.float32)
    argmax = np.argmax(tf.image.resize(model.predict(small[None], verbose=0)[0],
                                       (height, width), method="bilinear").numpy(), -1)
    page.wait_for_function(f"document.getElementById('view').width === {width}")
    # Opened pre-labelled: one object per region, the overlay covers the predicted classes.
    page.wait_for_function(f"document.getElementById('view').dataset.maskArea == "
                           f"{int((argmax > 0).sum())}")
    objects = page.server.session.labels(first)
    expect(page.locator("#objects li")).to_have_count(len(objects))
    expect(page.locator("#objects li").first).to_contain_text("[model]")
    masks = [np.asarray(Image.open(io.BytesIO(base64.b64decode(o["mask_png"])))) == 255
             for o in objects]
    k = int(np.argmax([m.sum() for m in masks]))
    target = masks[k]
    page.locator(f"#objects li[data-index='{k}']").click()
    # Erase a band through the middle of the largest object.
    ys, xs = np.nonzero(target)
    y = float(np.median(ys))
    page.locator("#brush-size").fill("7")
    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("e")
    expect(page.locator("button#eraser")).to_have_class("active")
    _drag(page, [(xs.min(), y), (xs.max(), y)], width, height)
    strokes = page.evaluate("window.segkitStrokes()")[k]
    assert len(strokes) == 1 and strokes[0]["erase"]
    kept = brushed(strokes, (height, width), target)
    removed = target & ~kept
    assert removed.sum() > 10
    page.wait_for_function(f"document.getElementById('view').dataset.maskArea == "
                           f"{int((argmax > 0).sum() - removed.sum())}")
    page.keyboard.press("Enter")
    expect(page.locator("#counts")).to_contain_text(f"1 / {N_PHOTOS + 1} labelled")
    expect(page.locator(f"#images li[data-name='{first}'] .st")).to_contain_text("edited")
    stem = pathlib.Path(first).stem
    expected = argmax.astype(np.uint8)
    expected[removed] = 0
    np.testing.assert_array_equal(np.asarray(Image.open(page.out / "masks" / f"{stem}.png")),
                                  expected)
    record = json.loads((page.out / "prompts.json").read_text())[f"{stem}.jpg"]
    assert record["origin"] == "edited"
    assert record["changed_fraction"] == pytest.approx(removed.sum() / removed.size, abs=1e-6)
    assert all(o.get("source") == "model" for o in page.accepted[-1]["objects"])
