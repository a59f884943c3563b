"""TextSegmenter on a tiny random-weight SAM 3 (28 px, hand-made vocabulary) saved as a local
preset with its tokenizer assets. The reference is keras-hub itself (the segmenter's own
preprocessor, call and post-processing); the geometry tests use a hand-set model output and
Keras' own Resizing."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from segmodel.sam.sam3.converter_geometry import ConverterGeometry
from segmodel.sam.sam3.segmenter import TextSegmenter
from segmodel.testing import save_tiny_sam3

# Named like the built-in preset: loading it by this relative name must read the folder.
PRESET_NAME = "sam3_pcs"


@pytest.fixture(scope="module")
def preset_parent(tmp_path_factory):
    parent = tmp_path_factory.mktemp("sam3_preset")
    save_tiny_sam3(parent / PRESET_NAME, seed=0)  # the same random model in every run
    return parent


@pytest.fixture(scope="module")
def text_segmenter(preset_parent):
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(preset_parent)
        return TextSegmenter.from_preset(PRESET_NAME)


def _image(height, width, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:height, :width]
    base = 127 + 100 * np.sin(xx / 7.0)[..., None] * np.cos(yy / 5.0)[..., None]
    return np.clip(base + rng.normal(0, 20, (height, width, 3)), 0, 255).astype(np.uint8)


def test_preset_folder_keeps_tokenizer_assets(preset_parent):
    folder = preset_parent / PRESET_NAME
    assert (folder / "assets" / "tokenizer" / "vocabulary.json").is_file()
    vocab = json.loads((folder / "assets" / "tokenizer" / "vocabulary.json").read_text())
    assert "cat</w>" in vocab and "<|startoftext|>" in vocab


def test_segment_matches_keras_hub_predict(text_segmenter):
    image = _image(40, 66)
    # keras-hub's predict_step, without predict's per-call tf.data set-up (~30 s here).
    model = text_segmenter.segmenter
    inputs = model.preprocessor({"images": image[None].astype("float32"),
                                 "prompts": ["a cat"]})
    out = {k: np.asarray(v) for k, v in model.post_process_prediction(model(inputs)).items()}
    scores = out["scores"][0]
    threshold = float(np.median(scores))
    instances = text_segmenter.segment(image, "a cat", score_threshold=threshold)
    kept = np.sort(scores[scores >= threshold])[::-1]
    assert 0 < len(instances) < len(scores)  # the threshold matters for this image
    np.testing.assert_allclose([i.score for i in instances], kept, rtol=1e-5)
    # The preset stretches the photo, so its masks come back with one plain resize.
    best = int(np.argmax(scores))
    probs = tf.image.resize(out["masks"][0, best][..., None], (40, 66), method="bilinear")
    expected = probs.numpy()[..., 0] > 0.5
    assert instances[0].mask.dtype == bool and instances[0].mask.shape == (40, 66)
    assert (instances[0].mask != expected).mean() < 1e-3
    expected_box = np.clip(out["boxes"][0, best] * [66, 40, 66, 40], 0, [66, 40, 66, 40])
    np.testing.assert_allclose(instances[0].box, expected_box, atol=1e-3)
    assert all(i.text == "a cat" for i in instances)


def test_thresholds_keep_all_or_nothing(text_segmenter):
    image = _image(30, 20)
    everything = text_segmenter.segment(image, "a pet", score_threshold=0.0)
    assert len(everything) == text_segmenter.num_queries
    assert [i.score for i in everything] == sorted((i.score for i in everything), reverse=True)
    for inst in everything:
        x0, y0, x1, y1 = inst.box
        assert 0 <= x0 <= x1 <= 20 and 0 <= y0 <= y1 <= 30
    assert text_segmenter.segment(image, "a pet", score_threshold=1.0) == []
    full = text_segmenter.segment(image, "a pet", score_threshold=0.0, mask_threshold=0.0)
    none = text_segmenter.segment(image, "a pet", score_threshold=0.0, mask_threshold=1.0)
    assert sum(i.mask.sum() for i in full) > sum(i.mask.sum() for i in none) == 0


def test_several_texts_one_call_each_tagged(text_segmenter):
    image = _image(36, 50)
    cats = text_segmenter.segment(image, "a cat", score_threshold=0.0)
    dogs = text_segmenter.segment(image, "a dog", score_threshold=0.0)
    both = text_segmenter.segment(image, ["a cat", "a dog"], score_threshold=0.0)
    assert len(both) == len(cats) + len(dogs)
    assert sorted(i.score for i in both if i.text == "a dog") == sorted(i.score for i in dogs)
    assert [i.score for i in both] == sorted((i.score for i in both), reverse=True)
    assert {i.text for i in both} == {"a cat", "a dog"}


def test_exemplar_boxes_change_the_answer(text_segmenter):
    image = _image(40, 60)
    plain = text_segmenter.segment(image, "a cat", score_threshold=0.0)
    boxed = text_segmenter.segment(image, "a cat", boxes=[[5, 5, 30, 25], [35, 10, 58, 38]],
                                   box_labels=[1, 0], score_threshold=0.0)
    assert len(boxed) == len(plain)
    assert not np.allclose([i.score for i in boxed], [i.score for i in plain])
    only_boxes = text_segmenter.segment(image, None, boxes=[[5, 5, 30, 25]],
                                        score_threshold=0.0)
    assert len(only_boxes) == len(plain) and only_boxes[0].text is None


@pytest.mark.parametrize("kwargs, match", [
    (dict(text=""), "empty"),
    (dict(text="   "), "empty"),
    (dict(text=3), "string"),
    (dict(text=["a cat", None]), "must be a string"),
    (dict(text=[]), "non-empty"),
    (dict(text="a " * 40), "tokens"),
    (dict(text="a cat", score_threshold=1.5), "score_threshold"),
    (dict(text="a cat", mask_threshold=-0.1), "mask_threshold"),
    (dict(text="a cat", score_threshold="high"), "score_threshold"),
    (dict(text="a cat", boxes=[[10, 10, 5, 20]]), "x0 < x1"),
    (dict(text="a cat", boxes=[[0, 0, 10, 99]]), "inside"),
    (dict(text="a cat", boxes=[[0, 0, 10, 10]], box_labels=[2]), "box_labels"),
])
def test_bad_requests_raise_value_error(text_segmenter, kwargs, match):
    with pytest.raises(ValueError, match=match):
        text_segmenter.segment(_image(20, 24), **kwargs)


def test_bad_images_raise_clear_errors(text_segmenter, tmp_path):
    not_image = tmp_path / "notes.png"
    not_image.write_text("not an image")
    with pytest.raises(ValueError, match="notes.png"):
        text_segmenter.segment(not_image, "a cat")
    with pytest.raises(FileNotFoundError, match="missing.jpg"):
        text_segmenter.segment(tmp_path / "missing.jpg", "a cat")
    with pytest.raises(ValueError, match="uint8"):
        text_segmenter.segment(np.zeros((8, 8, 3), np.float32), "a cat")
    # A path works like the array.
    image = _image(22, 30)
    Image.fromarray(image).save(tmp_path / "photo.png")
    from_path = text_segmenter.segment(tmp_path / "photo.png", "a cat", score_threshold=0.0)
    from_array = text_segmenter.segment(image, "a cat", score_threshold=0.0)
    np.testing.assert_array_equal(from_path[0].mask, from_array[0].mask)


def test_preset_errors(tmp_path):
    with pytest.raises(ValueError, match="neither a local preset folder"):
        TextSegmenter.from_preset("sam3_pcz")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        TextSegmenter.from_preset(str(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="config.json"):
        TextSegmenter.from_preset(str(tmp_path / "empty"))
    with pytest.raises(TypeError, match="SAM3PromptableConceptImageSegmenter"):
        TextSegmenter(object())


def test_bfloat16_runs_the_backbone_in_bfloat16(preset_parent, text_segmenter):
    previous = keras.config.dtype_policy()
    low = TextSegmenter.from_preset(str(preset_parent / PRESET_NAME), dtype="bfloat16")
    assert keras.config.dtype_policy() == previous  # the caller's policy is untouched
    assert low._backbone.vision_encoder.compute_dtype == "bfloat16"
    assert text_segmenter._backbone.vision_encoder.compute_dtype == "float32"
    image = _image(32, 40)
    ref = text_segmenter.segment(image, "a cat", score_threshold=0.0)
    got = low.segment(image, "a cat", score_threshold=0.0)
    assert got[0].mask.shape == (32, 40) and isinstance(got[0].score, float)
    np.testing.assert_allclose(sorted(i.score for i in got), sorted(i.score for i in ref),
                               atol=0.03)
    with pytest.raises(ValueError, match="dtype"):
        TextSegmenter(text_segmenter.segmenter, dtype="float16")


# --- Geometry: hand-set model outputs and Keras' own Resizing as the references. ---

def _fake_outputs(masks, scores, boxes):
    def infer(_inputs):
        return {"masks": tf.constant(np.asarray(masks, np.float32)[None]),
                "scores": tf.constant(np.asarray(scores, np.float32)[None]),
                "boxes": tf.constant(np.asarray(boxes, np.float32)[None])}
    return infer


@pytest.mark.parametrize("height, width", [(48, 80), (72, 24)])
def test_hand_set_masks_and_boxes_round_trip_exact_pixels(text_segmenter, monkeypatch,
                                                          height, width):
    """Bands drawn on the model's mask grid come back on exactly the photo pixels they
    cover (the grid cells are whole pixels here). A rectangle's sides do too; only its
    corners are rounded, as bilinear upsampling then a 0.5 threshold always does."""
    grid = 4 * text_segmenter.image_size // 14  # 8 x 8 for the 28-px model
    cell_h, cell_w = height // grid, width // grid
    masks = np.zeros((4, grid, grid), np.float32)
    masks[0, 2:5, :] = 1.0
    masks[1, :, 6:8] = 0.9
    masks[2, :, 3:4] = 1.0
    masks[3, 1:6, 2:7] = 1.0
    boxes = [[0.125, 0.25, 0.875, 0.625], [0.75, 0.0, 1.0, 1.0], [-0.2, 0.5, 0.5, 1.3],
             [0.25, 0.125, 0.875, 0.75]]
    monkeypatch.setattr(text_segmenter, "_infer",
                        _fake_outputs(masks, [0.9, 0.2, 0.7, 0.6], boxes))
    instances = text_segmenter.segment(_image(height, width), "a cat")
    assert [round(i.score, 3) for i in instances] == [0.9, 0.7, 0.6]  # 0.2 is dropped
    rows = np.zeros((height, width), bool)
    rows[2 * cell_h:5 * cell_h, :] = True
    np.testing.assert_array_equal(instances[0].mask, rows)
    cols = np.zeros((height, width), bool)
    cols[:, 3 * cell_w:4 * cell_w] = True
    np.testing.assert_array_equal(instances[1].mask, cols)
    block = np.zeros((height, width), bool)
    block[1 * cell_h:6 * cell_h, 2 * cell_w:7 * cell_w] = True
    got = instances[2].mask
    assert not (got & ~block).any()
    np.testing.assert_array_equal(got.any(axis=1), block.any(axis=1))
    np.testing.assert_array_equal(got.any(axis=0), block.any(axis=0))
    assert (block & ~got).sum() < 0.05 * block.sum()
    np.testing.assert_allclose(instances[0].box,
                               [0.125 * width, 0.25 * height, 0.875 * width, 0.625 * height])
    np.testing.assert_allclose(instances[1].box, [0, 0.5 * height, 0.5 * width, height])


def test_many_instances_map_back_in_order(text_segmenter, monkeypatch):
    """More instances than one post-processing chunk: each keeps its own mask and box."""
    grid, count = 4 * text_segmenter.image_size // 14, 37
    masks = np.zeros((count, grid, grid), np.float32)
    for i in range(count):
        masks[i, i % grid, :] = 1.0
    scores = np.linspace(0.99, 0.6, count)
    boxes = np.tile([0.0, 0.0, 0.5, 0.5], (count, 1))
    boxes[:, 2] = np.linspace(0.1, 1.0, count)
    monkeypatch.setattr(text_segmenter, "_infer", _fake_outputs(masks, scores, boxes))
    instances = text_segmenter.segment(_image(16, 24), "a cat")
    assert len(instances) == count
    for i, inst in enumerate(instances):
        assert inst.mask.any(axis=1).nonzero()[0].tolist() == [2 * (i % grid),
                                                              2 * (i % grid) + 1]
        assert inst.box[2] == pytest.approx(boxes[i, 2] * 24, abs=1e-4)


def _converter(size, crop_to_aspect_ratio=False, pad_to_aspect_ratio=False):
    import keras_hub

    return keras_hub.layers.SAM3ImageConverter(
        image_size=size, crop_to_aspect_ratio=crop_to_aspect_ratio,
        pad_to_aspect_ratio=pad_to_aspect_ratio)


@pytest.mark.parametrize("height, width", [(40, 61), (61, 40), (33, 33)])
def test_pad_geometry_matches_keras_and_round_trips(height, width):
    target = (24, 24)
    resizing = _converter(target, pad_to_aspect_ratio=True)
    geometry = ConverterGeometry.from_converter(resizing, (height, width))
    assert geometry.mode == "pad"
    # Keras itself, resizing to the frame's own size, shows where the photo sits.
    frame = keras.layers.Resizing(*geometry.frame_size, pad_to_aspect_ratio=True,
                                  fill_value=0.0)(np.ones((1, height, width, 1), np.float32))
    rows, cols = np.nonzero(frame.numpy()[0, ..., 0] > 0.5)
    assert (rows.min(), cols.min()) == geometry.offset
    assert (rows.max() + 1 - rows.min(), cols.max() + 1 - cols.min()) == (height, width)
    # A mask drawn over the photo in the frame comes back on the same photo pixels.
    frame_h, frame_w = geometry.frame_size
    top, left = geometry.offset
    in_frame = np.zeros((frame_h, frame_w), np.float32)
    in_frame[top + 5:top + 20, left + 3:left + 17] = 1.0
    back = geometry.masks_to_image(in_frame[None]) > 0.5
    expected = np.zeros((height, width), bool)
    expected[5:20, 3:17] = True
    np.testing.assert_array_equal(back[0], expected)
    normalised = [(left + 3) / frame_w, (top + 5) / frame_h, (left + 17) / frame_w,
                  (top + 20) / frame_h]
    np.testing.assert_allclose(geometry.boxes_to_image([normalised])[0], [3, 5, 17, 20],
                               atol=1e-4)
    # Exemplar boxes, once keras-hub divides them by the photo's size, land on the frame.
    sent = geometry.boxes_for_preprocessor([[3, 5, 17, 20]])[0]
    np.testing.assert_allclose(sent / [width, height, width, height], normalised, atol=1e-6)


@pytest.mark.parametrize("height, width", [(40, 61), (61, 40)])
def test_crop_geometry_matches_keras(height, width):
    geometry = ConverterGeometry.from_converter(
        _converter((24, 24), crop_to_aspect_ratio=True), (height, width))
    assert geometry.mode == "crop"
    image = np.arange(height * width, dtype=np.float32).reshape(1, height, width, 1)
    window = keras.layers.Resizing(*geometry.frame_size, crop_to_aspect_ratio=True)(image)
    top, left = -geometry.offset[0], -geometry.offset[1]
    frame_h, frame_w = geometry.frame_size
    np.testing.assert_array_equal(window.numpy()[0, ..., 0],
                                  image[0, top:top + frame_h, left:left + frame_w, 0])
    # The frame maps back inside the window; the border the model never saw stays empty.
    back = geometry.masks_to_image(np.ones((1, frame_h, frame_w), np.float32))[0] > 0.5
    expected = np.zeros((height, width), bool)
    expected[top:top + frame_h, left:left + frame_w] = True
    np.testing.assert_array_equal(back, expected)


def test_stretch_geometry_is_identity_frame():
    geometry = ConverterGeometry.from_converter(_converter((24, 24)), (40, 61))
    assert (geometry.mode, geometry.frame_size, geometry.offset) == ("stretch", (40, 61), (0, 0))
