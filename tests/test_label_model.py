"""The labelling page with a trained segkit model (`segkit label-app --model`): pre-labels,
accept records, the uncertainty queue, and a server SIGKILLed in the middle of accepts.
References: the Keras model called directly, numpy entropy, pycocotools for the COCO masks."""

import base64
import io
import json
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from label_fixtures import N_PHOTOS, call, photo_folder, tiny_preset
from PIL import Image
from scipy import ndimage

from segmodel.cli import main as segkit
from segmodel.sam.label_app.app import print_accepts, start, stop
from segmodel.sam.labelling import coco_output
from segmodel.sam.labelling.classes import ClassList
from segmodel.sam.prompting import files
from segmodel.testing import save_tiny_run

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    base = tmp_path_factory.mktemp("label_model")
    tiny_preset(base / "preset")
    photo_folder(base)
    save_tiny_run(base / "run", seed=3)
    return base


@pytest.fixture(scope="module")
def predictor(base):
    from label_fixtures import load_predictor

    return load_predictor(base / "preset")


@pytest.fixture(scope="module")
def reference(base):
    """name -> float probabilities [H, W, 3] at the photo's size, from the Keras model itself."""
    import keras
    import tensorflow as tf

    from segdata.input import transforms

    model = keras.models.load_model(base / "run" / "model.keras", compile=False)
    out = {}
    for name in _photos(base):
        image = files.load_image(base / "photos" / name)
        small = transforms.resize_image(image, (32, 32)).numpy().astype(np.float32)
        probs = model.predict(small[None], verbose=0)[0]
        out[name] = tf.image.resize(probs, image.shape[:2], method="bilinear").numpy()
    return out


def _photos(base):
    return sorted(p.name for p in (base / "photos").glob("*.jpg") if not p.is_symlink()
                  and not p.name.startswith("."))


def _decode(b64):
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(b64)))) == 255


def _png_b64(mask):
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(mask, np.uint8) * 255).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def _painted(objects, shape, names=("cat", "dog")):
    label = np.zeros(shape, np.uint8)
    for o in objects:
        label[_decode(o["mask_png"])] = names.index(o["class"]) + 1
    return label


def test_prelabels_accept_records_and_the_uncertainty_queue(base, predictor, reference, tmp_path,
                                                             capsys):
    out = tmp_path / "out"
    server = start(base / "photos", out, predictor, port=0, model=base / "run" / "model.keras",
                   order="uncertainty")
    names = _photos(base)
    try:
        # The folder takes the model's classes (after background).
        assert [c["name"] for c in call(server, "/api/classes")[1]] == ["cat", "dog"]
        # Queue: the photos to do, most uncertain first, as an independent entropy says.
        entropy = {n: float(np.mean(-np.sum(p * np.log(np.clip(p, 1e-30, None)), -1)))
                   for n, p in reference.items()}
        listed = call(server, "/api/images")[1]
        todo = [i for i in listed if i["status"] == "todo"]
        assert [i["name"] for i in todo] == sorted(entropy, key=lambda n: -entropy[n])
        for item in todo:
            assert item["score"] == pytest.approx(entropy[item["name"]], abs=1e-5)
        assert listed[-1]["name"] == "broken.png" and listed[-1]["score"] is None

        # Pre-labels: the model's arg-max pixel for pixel, one object per connected region.
        pre = {}
        for name in names:
            objects = call(server, f"/api/labels/{name}")[1]["objects"]
            shape = reference[name].shape[:2]
            np.testing.assert_array_equal(_painted(objects, shape),
                                          np.argmax(reference[name], -1))
            for o in objects:
                mask = _decode(o["mask_png"])
                assert o["source"] == "model" and o["points"] == []
                assert ndimage.label(mask, structure=np.ones((3, 3)))[1] == 1
                x0, y0, x1, y1 = o["box"]
                assert mask[y0:y1, x0:x1].sum() == mask.sum()
            pre[name] = objects
        assert all(pre.values())
        # A click on a pre-labelled object re-prompts it with SAM (its box and the click).
        obj = pre[names[0]][0]
        x0, y0, x1, y1 = obj["box"]
        clicked = dict(obj, points=[[(x0 + x1) / 2, (y0 + y1) / 2]], labels=[1])
        del clicked["mask_png"]
        status, answer, _ = call(server, "/api/predict", {"image": names[0],
                                                          "objects": [clicked]})
        assert status == 200, answer
        assert len(answer["masks_png"]) == 1 and answer["scores"][0] is not None

        # Accepted as is -> "pre-labelled"; the mask written is the arg-max.
        first = names[0]
        status, answer, _ = call(server, "/api/accept", {"image": first, "objects": pre[first]})
        assert status == 200, answer
        assert answer["origin"] == "pre-labelled" and answer["changed_fraction"] == 0.0
        np.testing.assert_array_equal(np.asarray(Image.open(out / answer["mask"])),
                                      np.argmax(reference[first], -1))
        # Part of the largest object erased -> "edited" with the fraction of pixels changed.
        second = names[1]
        objects = [dict(o) for o in pre[second]]
        big = max(range(len(objects)), key=lambda k: _decode(objects[k]["mask_png"]).sum())
        mask = _decode(objects[big]["mask_png"])
        erased = mask.copy()
        rows = np.nonzero(mask.any(1))[0]
        erased[rows[: max(1, len(rows) // 2)]] = False
        objects[big]["mask_png"] = _png_b64(erased)
        status, answer, _ = call(server, "/api/accept", {"image": second, "objects": objects})
        assert status == 200, answer
        changed = (mask & ~erased).sum() / mask.size
        assert answer["origin"] == "edited"
        assert answer["changed_fraction"] == pytest.approx(changed, abs=1e-6)
        # Every pre-label object deleted, one drawn by the user -> "new".
        third = names[2]
        shape = reference[third].shape[:2]
        drawn = np.zeros(shape, bool)
        drawn[5:20, 5:25] = True
        status, answer, _ = call(server, "/api/accept", {"image": third, "objects": [
            {"points": [[10, 10]], "labels": [1], "box": None, "class": "dog",
             "mask_png": _png_b64(drawn)}]})
        assert status == 200 and answer["origin"] == "new", answer
        progress = call(server, "/api/progress")[1]
        assert progress["accepts"]["all"] == {"pre-labelled": 1, "edited": 1, "new": 1}
        print_accepts(server.session)  # what segkit label-app prints at start and stop
        printed = capsys.readouterr().out.splitlines()
        assert printed[0] == ("accepted images: 1 as pre-labelled, 1 edited, 1 labelled from "
                              "scratch")
        assert printed[1].split() == ["class", "as-is", "edited", "new", "changed"]
        assert [line.split()[0] for line in printed[2:]] == ["cat", "dog"]
        statuses = {i["name"]: i for i in call(server, "/api/images")[1]}
        assert statuses[second]["origin"] == "edited" and statuses[first]["status"] == "labelled"
        # The recorded prompts of a pre-labelled image read back (box prompts, no points).
        status, prompts, _ = call(server, f"/api/prompts/{first}")
        assert status == 200 and len(prompts["objects"]) == len(pre[first])
    finally:
        stop(server)
    entries = json.loads((out / "prompts.json").read_text())
    stem = pathlib.Path(second).stem
    assert entries[f"{stem}.jpg"]["origin"] == "edited"
    assert entries[f"{stem}.jpg"]["changed_fraction"] == pytest.approx(changed, abs=1e-6)
    assert entries[f"{pathlib.Path(first).stem}.jpg"]["origin"] == "pre-labelled"
    assert entries[f"{pathlib.Path(third).stem}.jpg"]["origin"] == "new"


def test_model_classes_must_match_the_folder(base, predictor, tmp_path, capsys):
    with pytest.raises(ValueError) as err:
        start(base / "photos", tmp_path / "a", predictor, port=0,
              model=base / "run" / "model.keras", classes=ClassList(("cat", "bird")))
    assert "['background', 'cat', 'dog']" in str(err.value)
    assert "['background', 'cat', 'bird']" in str(err.value)
    # The command checks it before SAM loads: a preset that does not exist is never read.
    code = segkit(["label-app", "--images", str(base / "photos"), "--output-dir",
                   str(tmp_path / "b"), "--preset", str(tmp_path / "no-sam"), "--model",
                   str(base / "run" / "model.keras"), "--classes", "cat", "bird", "--port", "0"])
    message = capsys.readouterr().err
    assert code == 2 and "['background', 'cat', 'bird']" in message and "no-sam" not in message
    assert segkit(["label-app", "--images", str(base / "photos"), "--output-dir",
                   str(tmp_path / "c"), "--preset", "x", "--order", "uncertainty"]) == 2
    assert "--order uncertainty needs --model" in capsys.readouterr().err


def _check_consistent(out):
    """Every part has its image and a mask equal to its annotations painted in order;
    prompts.json and instances.json describe exactly the parts."""
    parts = {p.stem: json.loads(p.read_text())
             for p in (out / "annotations" / "parts").glob("[!.]*.json")}
    assert parts
    coco = json.loads((out / "annotations" / "instances.json").read_text())
    prompts = json.loads((out / "prompts.json").read_text())
    assert sorted(i["file_name"] for i in coco["images"]) == sorted(f"{s}.jpg" for s in parts)
    assert sorted(prompts) == sorted(f"{s}.jpg" for s in parts)
    ids = {i["file_name"]: i["id"] for i in coco["images"]}
    for stem, part in parts.items():
        assert (out / "images" / f"{stem}.jpg").is_file()
        mask = np.asarray(Image.open(out / "masks" / f"{stem}.png"))
        painted = np.zeros_like(mask)
        for annotation in part["annotations"]:
            painted[coco_output.decode_mask(annotation["segmentation"])] = \
                annotation["category_id"]
        np.testing.assert_array_equal(mask, painted, err_msg=stem)
        mine = [a for a in coco["annotations"] if a["image_id"] == ids[f"{stem}.jpg"]]
        assert [a["segmentation"] for a in mine] == [a["segmentation"]
                                                     for a in part["annotations"]]
        assert prompts[f"{stem}.jpg"] == part["prompts"]
    leftovers = [p for d in ("images", "masks", "annotations/parts", "annotations/parts/journal")
                 for p in (out / d).glob("*") if p.is_file() and p.name.startswith(".")
                 and p.name not in (".lock", ".built.json")]
    assert not leftovers, leftovers
    return parts


def _serve_process(base, out):
    command = [sys.executable, "-m", "segmodel.cli", "label-app", "--images",
               str(base / "photos"), "--output-dir", str(out), "--preset", str(base / "preset"),
               "--port", "0", "--encoder", "thread", "--model", str(base / "run" / "model.keras")]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests")]))
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env, cwd=ROOT)
    for line in process.stdout:
        if line.startswith("http"):
            url = line.strip()
            break
    else:
        raise AssertionError(f"no URL: {process.stderr.read()}")
    port = int(url.split(":")[2].split("/")[0])
    token = url.split("token=")[1]
    return process, type("Server", (), {"server_address": ("127.0.0.1", port),
                                        "token": token})()


def test_sigkill_during_accepts_leaves_every_file_consistent(base, predictor, tmp_path):
    out = tmp_path / "out"
    names = _photos(base)
    acknowledged = {}  # name -> the stroke index of its last answered accept
    for delay in (0.8,):  # more delays catch more moments, at ~25 s each
        process, server = _serve_process(base, out)
        pre = {n: call(server, f"/api/labels/{n}")[1]["objects"] for n in names}
        stop_sending = threading.Event()

        def accepts():
            k = 0
            while not stop_sending.is_set():
                name = names[k % len(names)]
                objects = [dict(o) for o in pre[name]] if k % 3 else pre[name]
                if k % 3:  # erase a growing corner: every accept writes different masks
                    mask = _decode(objects[0]["mask_png"])
                    mask[: 1 + k % 7, :] = False
                    objects[0]["mask_png"] = _png_b64(mask)
                try:
                    status, _, _ = call(server, "/api/accept", {"image": name,
                                                                "objects": objects})
                except OSError:
                    return  # the server died under us
                if status == 200:
                    acknowledged[name] = k
                k += 1

        sender = threading.Thread(target=accepts)
        sender.start()
        time.sleep(delay)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        stop_sending.set()
        sender.join(timeout=60)
        process.stdout.close()
        process.stderr.close()
        assert acknowledged, "no accept answered before the kill"
        # Restarted on the same folder: killed accepts are finished or dropped, the derived
        # files rebuilt; every answered accept is there.
        server = start(base / "photos", out, predictor, port=0,
                       model=base / "run" / "model.keras")
        try:
            parts = _check_consistent(out)
            assert {f"{pathlib.Path(n).stem}" for n in acknowledged} <= set(parts)
            statuses = {i["name"]: i["status"] for i in call(server, "/api/images")[1]}
            assert all(statuses[n] == "labelled" for n in acknowledged)
        finally:
            stop(server)
        _check_consistent(out)
    assert len(names) == N_PHOTOS
