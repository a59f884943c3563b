"""SamPredictor on a tiny keras-hub SAM (128-px ViTDet, random weights) saved as a local
preset. The reference is keras-hub itself: the full SAMImageSegmenter.predict on the
padded image (0..255, through the preset's own preprocessor), post-processed by hand."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from segmodel.sam import SamPredictor
from segmodel.sam.models.architectures import build_sam_segmenter
from segmodel.sam.prompting import geometry as transforms
from segmodel.testing import smooth_image as _image

# The folder is named like a built-in preset: loading it by its relative name must read the
# folder, not go to Kaggle.
PRESET_NAME = "sam_base_sa1b"


def _reference(segmenter, image, points=None, labels=None, box=None, multimask=True):
    """keras-hub's own answer: low-res logits, scores and full-size logits, best first."""
    height, width = image.shape[:2]
    new_h, new_w = transforms.preprocess_shape(height, width, 128)
    resized = tf.image.resize(image / 255.0, (new_h, new_w), antialias=True).numpy()
    padded = np.tile(transforms.IMAGENET_MEAN, (128, 128, 1))
    padded[:new_h, :new_w] = resized
    # The chapter feeds 0..255 pixels; the preset's preprocessor rescales them by 1/255.
    inputs = {"images": (padded * 255.0)[None].astype(np.float32)}
    scale = np.array([new_w / width, new_h / height], np.float32)
    pts = np.zeros((0, 2), np.float32) if points is None else np.float32(points) * scale
    lab = np.zeros((0,), np.float32) if labels is None else np.float32(labels)
    if box is None:
        pts, lab = np.vstack([pts, [[0, 0]]]), np.append(lab, -1)
    else:
        inputs["boxes"] = (np.float32(box).reshape(2, 2) * scale)[None, None]
    if len(pts):
        inputs["points"], inputs["labels"] = pts[None].astype(np.float32), lab[None]
    out = segmenter.predict(inputs, verbose=0)
    tokens = slice(1, None) if multimask else slice(0, 1)
    low, iou = out["masks"][0, tokens], out["iou_pred"][0, tokens]
    order = np.argsort(-iou, kind="stable")
    low, iou = low[order], iou[order]
    up = tf.image.resize(low[..., None], (128, 128), method="bilinear")[:, :new_h, :new_w]
    full = tf.image.resize(up, (height, width), method="bilinear").numpy()[..., 0]
    return low, iou, full


def test_local_folder_named_like_a_preset_loads_and_sizes_come_from_the_model(sam_predictor):
    assert sam_predictor.image_size == 128 and sam_predictor.low_res_size == 32
    assert sam_predictor.segmenter.backbone.image_encoder.input_shape[1] == 128


@pytest.mark.parametrize("shape,prompt,multimask", [
    ((90, 150), dict(points=[[30, 40], [120, 70]], labels=[1, 0]), True),
    ((90, 150), dict(points=[[150, 0]], labels=[1]), False),
    ((150, 70), dict(points=[[60, 140]], labels=[1], box=[5, 20, 69, 149]), False),
    ((150, 70), dict(box=[10, 10, 50, 120]), True),
])
def test_geometry_matches_keras_hub_on_the_padded_image(sam_predictor, shape, prompt, multimask):
    image = _image(*shape)
    sam_predictor.set_image(image)
    assert sam_predictor.input_size == transforms.preprocess_shape(*shape, 128)
    args = (prompt.get("points"), prompt.get("labels"), prompt.get("box"))
    logits, scores, low = sam_predictor.predict(*args, multimask_output=multimask,
                                            return_logits=True)
    ref_low, ref_scores, ref_full = _reference(sam_predictor.segmenter, image, *args,
                                               multimask=multimask)
    count = 3 if multimask else 1
    assert logits.shape == (count,) + shape and low.shape == (count, 32, 32)
    np.testing.assert_allclose(scores, ref_scores, atol=1e-4)
    np.testing.assert_allclose(low, ref_low, atol=1e-4)
    np.testing.assert_allclose(logits, ref_full, atol=1e-4)
    masks, _, _ = sam_predictor.predict(*args, multimask_output=multimask)
    decided = np.abs(ref_full) > 1e-3  # ignore pixels sitting on the threshold
    np.testing.assert_array_equal(masks[decided], (ref_full > 0)[decided])


def test_outputs_sorted_by_score_with_documented_dtypes(sam_predictor):
    image = _image(100, 80, seed=1)
    sam_predictor.set_image(image)
    masks, scores, low = sam_predictor.predict([[40, 50]], [1])
    assert masks.dtype == bool and masks.shape == (3, 100, 80)
    assert scores.dtype == np.float32 and low.dtype == np.float32
    assert np.all(np.diff(scores) <= 0)
    logits, scores2, _ = sam_predictor.predict([[40, 50]], [1], return_logits=True)
    assert logits.dtype == np.float32
    np.testing.assert_array_equal(masks, logits > 0)
    np.testing.assert_array_equal(scores, scores2)


def test_repeated_prompts_reuse_one_compiled_decoder(sam_predictor):
    sam_predictor.set_image(_image(64, 96))
    sam_predictor.predict([[10, 10]], [1])
    traces = sam_predictor._decode.experimental_get_tracing_count()
    sam_predictor.predict([[10, 10], [50, 30], [90, 60]], [1, 0, 1], multimask_output=False)
    sam_predictor.predict(box=[0, 0, 50, 40])
    sam_predictor.set_image(_image(120, 40))  # a new size must not retrace the encoder either
    sam_predictor.predict([[20, 100]], [0], box=[0, 50, 40, 120])
    assert sam_predictor._decode.experimental_get_tracing_count() == traces
    assert sam_predictor._encode.experimental_get_tracing_count() == 1


def test_set_image_accepts_a_path_and_grayscale(sam_predictor, tmp_path):
    from PIL import Image

    image = _image(60, 90)
    Image.fromarray(image).save(tmp_path / "photo.png")
    sam_predictor.set_image(tmp_path / "photo.png")
    from_path = sam_predictor.get_image_embedding()
    sam_predictor.set_image(image)
    np.testing.assert_array_equal(from_path, sam_predictor.get_image_embedding())
    sam_predictor.set_image(image[..., 0])
    assert sam_predictor.original_size == (60, 90)


@pytest.mark.parametrize("bad,match", [
    (np.zeros((10, 10, 3), np.float32), "uint8"),
    (np.zeros((10, 10, 4), np.uint8), r"\[H, W, 3\]"),
    (np.zeros((0, 10, 3), np.uint8), "empty"),
])
def test_bad_images_raise_value_errors(sam_predictor, bad, match):
    with pytest.raises(ValueError, match=match):
        sam_predictor.set_image(bad)


def test_missing_image_file_names_the_file(sam_predictor, tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.jpg"):
        sam_predictor.set_image(tmp_path / "nope.jpg")
    (tmp_path / "bad.jpg").write_bytes(b"not an image")
    with pytest.raises(ValueError, match="bad.jpg"):
        sam_predictor.set_image(tmp_path / "bad.jpg")


def test_predict_before_set_image_says_what_to_do(sam_predictor):
    fresh = SamPredictor(sam_predictor.segmenter)
    with pytest.raises(RuntimeError, match=r"call set_image"):
        fresh.predict([[1, 1]], [1])


@pytest.mark.parametrize("kwargs,match", [
    (dict(point_coords=[[97, 5]], point_labels=[1]), "outside the image"),
    (dict(point_coords=[[5, 5], [6, 6]], point_labels=[1]), "one label per point"),
    (dict(point_coords=[[5, 5]], point_labels=[3]), "1 .foreground. or 0"),
    (dict(box=[50, 5, 10, 40]), "x1 < x0"),
    (dict(box=[0, 0, 96, 65]), "outside the image"),
    (dict(), "No prompt"),
])
def test_bad_prompts_raise_before_the_model_runs(sam_predictor, kwargs, match):
    sam_predictor.set_image(_image(64, 96))
    with pytest.raises(ValueError, match=match):
        sam_predictor.predict(**kwargs)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_low_precision_encoder_runs_and_leaves_global_policy_alone(sam_predictor, dtype):
    image = _image(90, 150)
    sam_predictor.set_image(image)
    reference = sam_predictor.get_image_embedding()
    low = SamPredictor(sam_predictor.segmenter, dtype=dtype)
    assert keras.config.dtype_policy().name == "float32"
    assert low._image_encoder.layers[-1].compute_dtype == dtype
    low.set_image(image)
    embedding = low.get_image_embedding()
    assert embedding.dtype == np.float32
    error = np.abs(embedding - reference).mean() / np.abs(reference).mean()
    assert 0 < error < 0.05  # really low precision, and still close
    masks, scores, _ = low.predict([[30, 40]], [1])
    ref_masks, ref_scores, _ = sam_predictor.predict([[30, 40]], [1])
    assert masks.shape == ref_masks.shape and scores.dtype == np.float32
    assert (masks == ref_masks).mean() > 0.9


def test_preset_errors_are_clear(tmp_path, monkeypatch):
    import keras_hub

    def no_download(*args, **kwargs):  # a typo must be rejected before keras-hub goes online
        raise AssertionError("SamPredictor.from_preset tried to fetch a preset")

    monkeypatch.setattr(keras_hub.models.SAMImageSegmenter, "from_preset", no_download)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        SamPredictor.from_preset(str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="no config.json"):
        SamPredictor.from_preset(str(tmp_path))
    with pytest.raises(ValueError, match="neither a local preset folder"):
        SamPredictor.from_preset("sam_tiny_typo")
    with pytest.raises(ValueError, match="dtype"):
        SamPredictor(build_sam_segmenter("tiny", with_preprocessor=False), dtype="int8")
    with pytest.raises(TypeError, match="SAMImageSegmenter"):
        SamPredictor(keras.Sequential([keras.layers.Dense(1)]))
