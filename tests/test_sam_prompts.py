"""Prompt validation (clear ValueErrors) and keras-hub prompt inputs."""

import numpy as np
import pytest

from segmodel.sam.prompting.prompts import check_prompts, to_model_inputs

SIZE = (90, 150)  # (H, W): x in 0..150, y in 0..90


@pytest.mark.parametrize("kwargs,match", [
    (dict(point_coords=[[151, 10]], point_labels=[1]), r"outside the image.*width 150"),
    (dict(point_coords=[[10, 90.5]], point_labels=[1]), r"outside the image"),
    (dict(point_coords=[[-1, 10]], point_labels=[1]), r"outside the image"),
    (dict(point_coords=[[1, 2], [3, 4]], point_labels=[1]), r"1 labels but .* 2 points"),
    (dict(point_coords=[[1, 2]], point_labels=[1, 0]), r"2 labels but .* 1 points"),
    (dict(point_coords=[[1, 2]], point_labels=[2]), r"must be 1 \(foreground\) or 0"),
    (dict(point_coords=[[1, 2]], point_labels=[-1]), r"must be 1 \(foreground\) or 0"),
    (dict(point_coords=[[1, 2]], point_labels=None), r"point_labels is required"),
    (dict(point_coords=None, point_labels=[1]), r"without point_coords"),
    (dict(point_coords=[[1, 2, 3]], point_labels=[1]), r"shape \[N, 2\]"),
    (dict(point_coords=[[np.nan, 2]], point_labels=[1]), r"finite"),
    (dict(point_coords=[["a", 2]], point_labels=[1]), r"must be numbers"),
    (dict(box=[50, 10, 40, 30]), r"x1 < x0 or y1 < y0"),
    (dict(box=[10, 30, 40, 20]), r"x1 < x0 or y1 < y0"),
    (dict(box=[10, 10, 151, 20]), r"outside the image"),
    (dict(box=[-2, 10, 40, 20]), r"outside the image"),
    (dict(box=[1, 2, 3]), r"4 numbers"),
    (dict(), r"No prompt given"),
])
def test_bad_prompts_raise_clear_value_errors(kwargs, match):
    args = dict(point_coords=None, point_labels=None, box=None)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        check_prompts(args["point_coords"], args["point_labels"], args["box"], SIZE)


def test_points_on_the_image_border_are_inside():
    prompts = check_prompts([[0, 0], [150, 90]], [1, 0], [0, 0, 150, 90], SIZE)
    assert prompts.points.dtype == np.float32 and prompts.points.shape == (2, 2)
    assert prompts.labels.tolist() == [1, 0]
    assert prompts.box.tolist() == [0, 0, 150, 90]


def test_single_point_pair_and_float_labels_are_accepted():
    prompts = check_prompts([10, 20], np.array([1.0]), None, SIZE)
    assert prompts.points.tolist() == [[10, 20]] and prompts.labels.tolist() == [1]


def test_points_without_box_get_segment_anything_padding_point():
    prompts = check_prompts([[75, 45]], [1], None, SIZE)
    inputs = to_model_inputs(prompts, SIZE, 128)
    assert inputs["points"].shape == (1, 2, 2)
    np.testing.assert_allclose(inputs["points"][0], [[64, 38.5], [0, 0]], rtol=1e-6)
    assert inputs["labels"].tolist() == [[1, -1]]
    assert inputs["boxes"].shape == (1, 0, 2, 2)  # "no box" is a zero-length axis


def test_box_prompt_has_no_padding_point():
    prompts = check_prompts([[75, 45]], [0], [15, 9, 150, 90], SIZE)
    inputs = to_model_inputs(prompts, SIZE, 128)
    assert inputs["labels"].tolist() == [[0]]
    np.testing.assert_allclose(inputs["boxes"][0, 0], [[12.8, 7.7], [128, 77]], rtol=1e-6)
    box_only = to_model_inputs(check_prompts(None, None, [0, 0, 10, 10], SIZE), SIZE, 128)
    assert box_only["points"].shape == (1, 0, 2) and box_only["labels"].shape == (1, 0)


def test_prompts_to_dict_is_json_ready():
    prompts = check_prompts([[1, 2]], [1], [0, 0, 5, 5], SIZE)
    assert prompts.to_dict() == {"points": [[1.0, 2.0]], "labels": [1],
                                 "box": [0.0, 0.0, 5.0, 5.0]}
