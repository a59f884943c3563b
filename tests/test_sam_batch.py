"""SamPredictor's mask prompts and batched prompts on the tiny random-weight SAM."""

import numpy as np
import pytest
import tensorflow as tf

from segmodel.sam.prompting import geometry as transforms
from segmodel.testing import smooth_image as _image


def _keras_hub_with_mask(segmenter, image, points, labels, mask):
    """keras-hub's SAMImageSegmenter.predict with a mask prompt: masks [1, 1, L, L, 1]."""
    height, width = image.shape[:2]
    new_h, new_w = transforms.preprocess_shape(height, width, 128)
    resized = tf.image.resize(image / 255.0, (new_h, new_w), antialias=True).numpy()
    padded = np.tile(transforms.IMAGENET_MEAN, (128, 128, 1))
    padded[:new_h, :new_w] = resized
    scale = np.array([new_w / width, new_h / height], np.float32)
    pts = np.vstack([np.float32(points) * scale, [[0, 0]]])[None].astype(np.float32)
    out = segmenter.predict({"images": (padded * 255.0)[None].astype(np.float32),
                             "points": pts, "labels": np.float32([list(labels) + [-1]]),
                             "masks": mask[None, :, :, :, None]}, verbose=0)
    return out["masks"][0, 1:], out["iou_pred"][0, 1:]


def test_mask_prompt_changes_the_output_and_matches_keras_hub(sam_predictor):
    image = _image(90, 120, seed=4)
    sam_predictor.set_image(image)
    masks, scores, low = sam_predictor.predict([[40, 30]], [1])
    # The interactive loop: second click plus the best low-res logits of the first.
    again, again_scores, again_low = sam_predictor.predict([[40, 30], [90, 60]], [1, 0],
                                                       mask_input=low[0:1])
    plain, plain_scores, _ = sam_predictor.predict([[40, 30], [90, 60]], [1, 0])
    assert again.shape == (3, 90, 120) and again_low.shape == (3, 32, 32)
    assert np.abs(again_scores - plain_scores).max() > 1e-4
    ref_low, ref_scores = _keras_hub_with_mask(sam_predictor.segmenter, image, [[40, 30], [90, 60]],
                                               [1, 0], low[0:1])
    order = np.argsort(-ref_scores, kind="stable")
    np.testing.assert_allclose(again_scores, ref_scores[order], atol=1e-4)
    np.testing.assert_allclose(again_low, ref_low[order], atol=1e-4)
    # segment-anything also accepts a mask as the only prompt.
    alone, alone_scores, _ = sam_predictor.predict(mask_input=low[0:1], multimask_output=False)
    assert alone.shape == (1, 90, 120) and alone_scores.shape == (1,)
    with pytest.raises(ValueError, match=r"mask_input must be \[1, 32, 32\]"):
        sam_predictor.predict([[40, 30]], [1], mask_input=low)


def test_predict_batch_equals_single_calls(sam_predictor):
    image = _image(70, 110, seed=5)
    sam_predictor.set_image(image)
    points = np.float32([[[10, 20], [60, 50]], [[100, 5], [30, 60]], [[55, 35], [0, 0]]])
    labels = np.int32([[1, 0], [1, 1], [0, 1]])
    boxes = np.float32([[0, 0, 50, 40], [20, 10, 110, 70], [5, 5, 60, 60]])
    for kwargs, multimask in ((dict(), True), (dict(boxes=boxes), False),
                              (dict(boxes=boxes), True)):
        logits, scores, low = sam_predictor.predict_batch(points, labels, multimask_output=multimask,
                                                      return_logits=True, **kwargs)
        count = 3 if multimask else 1
        assert logits.shape == (3, count, 70, 110) and low.shape == (3, count, 32, 32)
        assert scores.shape == (3, count) and np.all(np.diff(scores, axis=1) <= 0)
        for b in range(3):
            box = kwargs["boxes"][b] if kwargs else None
            one_logits, one_scores, one_low = sam_predictor.predict(
                points[b], labels[b], box, multimask_output=multimask, return_logits=True)
            np.testing.assert_allclose(scores[b], one_scores, atol=1e-5)
            np.testing.assert_allclose(low[b], one_low, atol=1e-4)
            np.testing.assert_allclose(logits[b], one_logits, atol=1e-4)
    masks, _, _ = sam_predictor.predict_batch(boxes=boxes)
    assert masks.dtype == bool and masks.shape == (3, 3, 70, 110)
    # Per-row mask prompts.
    _, _, low = sam_predictor.predict_batch(points, labels)
    with_masks, batch_scores, _ = sam_predictor.predict_batch(points, labels, mask_input=low[:, 0])
    _, one_scores, _ = sam_predictor.predict(points[1], labels[1], mask_input=low[1, :1])
    np.testing.assert_allclose(batch_scores[1], one_scores, atol=1e-5)
    assert with_masks.shape == (3, 3, 70, 110)


@pytest.mark.parametrize("kwargs,match", [
    (dict(point_coords=[[10, 10]], point_labels=[1]), r"\[B, N, 2\]"),
    (dict(point_coords=[[[10, 10]]], point_labels=[[1, 1]]), "one label per point"),
    (dict(point_coords=[[[10, 10]], [[200, 5]]], point_labels=[[1], [1]]), "row 1"),
    (dict(boxes=[[0, 0, 10, 10], [9, 0, 1, 5]]), "boxes row 1"),
    (dict(point_coords=[[[10, 10]]], point_labels=[[1]], boxes=[[0, 0, 5, 5]] * 2),
     "one box per prompt"),
    (dict(), "No prompt"),
])
def test_predict_batch_errors(sam_predictor, kwargs, match):
    sam_predictor.set_image(_image(40, 60))
    with pytest.raises(ValueError, match=match):
        sam_predictor.predict_batch(**kwargs)
