"""Records are readable by TF Model Garden's segmentation decoder unchanged.

tf-models-official pins its own TensorFlow, so it is not a test dependency; instead this test
runs the exact parsing Model Garden does in `official/vision/dataloaders/segmentation_input.py`
(`Decoder._keys_to_features` + `Parser._prepare_image_and_label`'s decode and reshape), which is
what fails when a key, a dtype or a mask size is off.
"""

import json

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

# Copied from Model Garden's segmentation Decoder (default DenseFeatureConfig: image/encoded).
MODEL_GARDEN_KEYS = {
    "image/encoded": tf.io.FixedLenFeature((), tf.string, default_value=""),
    "image/height": tf.io.FixedLenFeature((), tf.int64, default_value=0),
    "image/width": tf.io.FixedLenFeature((), tf.int64, default_value=0),
    "image/segmentation/class/encoded": tf.io.FixedLenFeature((), tf.string, default_value=""),
}


def _model_garden_prepare(data):
    """Model Garden's decode + reshape: fails if the mask size differs from image/height,width."""
    height, width = data["image/height"], data["image/width"]
    label = tf.io.decode_image(data["image/segmentation/class/encoded"], channels=1)
    label = tf.reshape(label, (1, height, width))
    image = tf.io.decode_image(data["image/encoded"], channels=3, dtype=tf.uint8)
    image = tf.reshape(image, (height, width, 3))
    return image, label


def test_model_garden_decoder_reads_every_record(records_dir, pets_dir):
    from PIL import Image

    manifest = json.loads((records_dir / "manifest.json").read_text())
    seen = 0
    for split, info in manifest["splits"].items():
        files = [str(records_dir / s["file"]) for s in info["shards"]]
        for raw in tf.data.TFRecordDataset(files):
            data = tf.io.parse_single_example(raw, MODEL_GARDEN_KEYS)
            image, label = _model_garden_prepare(data)
            stem = tf.io.parse_single_example(
                raw, {"image/source_id": tf.io.FixedLenFeature((), tf.string)}
            )["image/source_id"].numpy().decode()
            trimap = np.asarray(Image.open(pets_dir / "annotations" / "trimaps" / f"{stem}.png"))
            np.testing.assert_array_equal(label.numpy()[0], trimap)
            assert image.shape[:2] == trimap.shape
            seen += 1
        assert seen > 0, f"split {split} has no records"
    assert seen == sum(info["num_examples"] for info in manifest["splits"].values())


@pytest.mark.parametrize("layout", ("voc", "cvat", "coco", "cityscapes", "ade20k", "camvid", "masks"))
def test_model_garden_decoder_reads_train_ids_of_every_layout(layout, tmp_path):
    """Every other layout stores train ids (255 ignore): Model Garden's decode, with its
    `ignore_label=255`, gives exactly the independent truth, with no table."""
    from segdata.records.convert import build_records
    from segdata.synthetic.datasets import make_dataset

    data = make_dataset(tmp_path / "data", layout, num_images=6, seed=5)
    manifest = build_records(data.root, tmp_path / "records", workers=0, progress=False)
    seen = 0
    for info in manifest["splits"].values():
        for raw in tf.data.TFRecordDataset([str(tmp_path / "records" / s["file"])
                                            for s in info["shards"]]):
            image, label = _model_garden_prepare(tf.io.parse_single_example(raw,
                                                                            MODEL_GARDEN_KEYS))
            stem = tf.io.parse_single_example(
                raw, {"image/source_id": tf.io.FixedLenFeature((), tf.string)}
            )["image/source_id"].numpy().decode()
            np.testing.assert_array_equal(label.numpy()[0], data.truth[stem])
            values = set(np.unique(label.numpy()).tolist())
            assert values <= set(range(manifest["num_classes"])) | {255}
            seen += 1
    assert seen == len(data.truth)
