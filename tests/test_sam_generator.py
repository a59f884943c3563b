"""SamAutomaticMaskGenerator: segment-anything's algorithm, checked against a plain
per-point reference on a tiny SAM, and its filters on a predictor with known masks."""

import numpy as np
import pytest

from segmodel.sam import SamPredictor
from segmodel.sam.automatic import amg
from segmodel.sam.automatic.generator import SamAutomaticMaskGenerator
from segmodel.sam.prompting import geometry as transforms
from segmodel.testing import smooth_image as _image
from segmodel.testing import tiny_sam as tiny_segmenter

KEYS = {"segmentation", "area", "bbox", "predicted_iou", "point_coords", "stability_score",
        "crop_box"}


class DiskPredictor:
    """SamPredictor's interface with known answers: each point gives three disks centred on
    it, (radius in low-res px, logit slope, score): a small crisp disk, a blurry disk
    (unstable), and a disk covering the whole image (the same mask for every point)."""

    image_size, low_res_size = 64, 16
    candidates = ((2.5, 50.0, 0.95), (4.0, 0.5, 0.92), (40.0, 50.0, 0.90))

    def set_image(self, image):
        self.original_size = image.shape[:2]
        self.input_size = transforms.preprocess_shape(*image.shape[:2], self.image_size)

    def decode_batch(self, point_coords, point_labels, multimask_output=True):
        assert multimask_output and np.all(point_labels == 1)
        centres = transforms.apply_coords(point_coords[:, 0], self.original_size,
                                          self.image_size) / 4.0
        yy, xx = np.mgrid[:16, :16] + 0.5
        dist = np.hypot(xx[None] - centres[:, 0, None, None], yy[None] - centres[:, 1, None, None])
        low = np.stack([s * (r - dist) for r, s, _ in self.candidates], axis=1)
        scores = np.tile([c[2] for c in self.candidates], (len(centres), 1))
        return low.astype(np.float32), scores.astype(np.float32)


def _box_iou(a, b):
    ax0, ay0, ax1, ay1 = a
    bx0, by0, bx1, by1 = b
    inter = max(0, min(ax1, bx1) - max(ax0, bx0)) * max(0, min(ay1, by1) - max(ay0, by0))
    union = (ax1 - ax0) * (ay1 - ay0) + (bx1 - bx0) * (by1 - by0) - inter
    return inter / union if union else 0.0


def _check_invariants(records, shape, iou_thresh, stab_thresh, nms_thresh):
    for r in records:
        assert set(r) == KEYS and r["segmentation"].shape == shape
        mask = r["segmentation"]
        x, y, w, h = r["bbox"]
        ys, xs = np.nonzero(mask)
        # The box is tight around its mask (inclusive corners, as segment-anything).
        assert (xs.min(), ys.min(), xs.max(), ys.max()) == (x, y, x + w, y + h)
        assert r["area"] == mask.sum() > 0
        assert r["predicted_iou"] > iou_thresh or iou_thresh == 0
        assert r["stability_score"] >= stab_thresh
        assert r["crop_box"] == [0, 0, shape[1], shape[0]]
    ious = [r["predicted_iou"] for r in records]
    assert ious == sorted(ious, reverse=True)
    boxes = [(x, y, x + w, y + h) for x, y, w, h in (r["bbox"] for r in records)]
    for i in range(len(boxes)):
        for j in range(i):
            assert _box_iou(boxes[i], boxes[j]) <= nms_thresh


def test_filters_and_nms_on_known_masks():
    image = np.zeros((64, 64, 3), np.uint8)
    generate = lambda **kw: SamAutomaticMaskGenerator(  # noqa: E731
        DiskPredictor(), points_per_side=4, points_per_batch=5, **kw).generate(image)
    records = generate()
    _check_invariants(records, (64, 64), 0.88, 0.95, 0.7)
    # 16 crisp disks, the blurry ones fail the stability filter, the 16 identical
    # whole-image masks are one after NMS.
    assert len(records) == 17
    assert sum(r["area"] == 64 * 64 for r in records) == 1
    grid = {(x, y) for x in (8, 24, 40, 56) for y in (8, 24, 40, 56)}
    small = [r for r in records if r["area"] < 64 * 64]
    assert {tuple(r["point_coords"][0]) for r in small} == grid
    for r in small:  # each disk is centred on its point
        x, y = r["point_coords"][0]
        assert r["segmentation"][int(y), int(x)] and r["predicted_iou"] == pytest.approx(0.95)
    assert len(generate(pred_iou_thresh=0.93)) == 16  # only the crisp disks score > 0.93
    unfiltered = generate(pred_iou_thresh=0, stability_score_thresh=0)
    _check_invariants(unfiltered, (64, 64), 0, 0, 0.7)
    assert len(unfiltered) == 33 and min(r["stability_score"] for r in unfiltered) < 0.5
    assert len(generate(pred_iou_thresh=0, stability_score_thresh=0, box_nms_thresh=1.0)) == 48
    cleaned = generate(min_mask_region_area=50)
    _check_invariants(cleaned, (64, 64), 0.88, 0.95, 0.7)
    assert len(cleaned) == 17


def _reference(predictor, image, side, iou_thresh, stab_thresh, offset, nms_thresh):
    """segment-anything's algorithm one point and one mask at a time, in numpy."""
    predictor.set_image(image)
    height, width = image.shape[:2]
    found = []
    for x, y in amg.build_point_grid(side) * [width, height]:
        logits, scores, _ = predictor.predict([[x, y]], [1], return_logits=True)
        for logit, score in zip(logits, scores):
            stab = (logit > offset).sum() / max((logit > -offset).sum(), 1)
            mask = logit > 0
            if score > iou_thresh and stab >= stab_thresh and mask.any():
                ys, xs = np.nonzero(mask)
                found.append((float(score), (xs.min(), ys.min(), xs.max(), ys.max()), mask))
    found.sort(key=lambda f: -f[0])
    kept = []
    for f in found:
        if all(_box_iou(f[1], k[1]) <= nms_thresh for k in kept):
            kept.append(f)
    return kept


@pytest.fixture(scope="module")
def sharp_predictor():
    segmenter = tiny_segmenter(seed=5)
    for mlp in segmenter.backbone.mask_decoder.output_hypernetworks_mlps:
        for weight in mlp.weights[-2:]:  # sharper logits, so the stability filter has work
            weight.assign(weight.numpy() * 30)
    return SamPredictor(segmenter)


@pytest.mark.parametrize("iou,stab,nms,at_least", [(0.05, 0.6, 1.0, 10), (0.0, 0.0, 0.7, 1)])
def test_matches_a_per_point_reference_on_a_tiny_sam(sharp_predictor, iou, stab, nms,
                                                     at_least):
    image = _image(60, 90, seed=3)
    records = SamAutomaticMaskGenerator(
        sharp_predictor, points_per_side=5, points_per_batch=8, pred_iou_thresh=iou,
        stability_score_thresh=stab, box_nms_thresh=nms).generate(image)
    _check_invariants(records, (60, 90), iou, stab, nms)
    expected = _reference(sharp_predictor, image, 5, iou, stab, 1.0, nms)
    assert len(records) == len(expected) >= at_least
    for r, (score, box, mask) in zip(records, expected):
        assert r["predicted_iou"] == pytest.approx(score, abs=1e-5)
        assert (mask != r["segmentation"]).mean() < 1e-3  # batched vs single float rounding


def test_remove_small_regions_fills_holes_and_drops_islands():
    masks = np.zeros((3, 20, 20), bool)
    masks[0, 2:12, 2:12] = True
    masks[0, 5, 5] = False  # a 1-px hole
    masks[0, 16:18, 16:18] = True  # a 4-px island
    masks[1, 1:3, 1:3] = True  # only small islands: the largest one stays
    masks[1, 10, 10] = True
    masks[2, 0:10, 0:20] = True  # nothing small
    cleaned, changed = amg.remove_small_regions(masks, 5)
    assert changed.tolist() == [True, True, False]
    assert cleaned[0, 5, 5] and not cleaned[0, 16:18, 16:18].any() and cleaned[0].sum() == 100
    assert cleaned[1].sum() == 4 and cleaned[1, 1:3, 1:3].all()
    np.testing.assert_array_equal(cleaned[2], masks[2])


@pytest.mark.parametrize("kwargs,match", [
    (dict(points_per_side=0), "points_per_side must be an int >= 1"),
    (dict(points_per_side=4.5), "points_per_side must be an int"),
    (dict(points_per_batch=0), "points_per_batch"),
    (dict(pred_iou_thresh=1.5), "pred_iou_thresh must be a number between 0 and 1"),
    (dict(stability_score_thresh=-0.1), "stability_score_thresh"),
    (dict(stability_score_offset=0), "stability_score_offset must be > 0"),
    (dict(box_nms_thresh=float("nan")), "box_nms_thresh"),
    (dict(min_mask_region_area=-1), "min_mask_region_area"),
])
def test_invalid_arguments_are_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SamAutomaticMaskGenerator(DiskPredictor(), **kwargs)
    with pytest.raises(TypeError, match="SamPredictor"):
        SamAutomaticMaskGenerator(object())
