"""Served preprocessing is the training pipeline's: same pixels, same masks, on real records."""

import keras
import numpy as np
import tensorflow as tf

from segdata import load_dataset, read_manifest
from segmodel import build_model
from segmodel.serving.export import export_saved_model
from segmodel.serving.signatures import decode_batch

SIZE = 40  # not a divisor of the record sizes, so the resize really interpolates


def encoded_images(records_dir, split):
    """tf.string [N]: image/encoded of `split`, in manifest order (the unshuffled pipeline's)."""
    shards = [str(records_dir / s["file"]) for s in read_manifest(records_dir)["splits"][split]
              ["shards"]]
    spec = {"image/encoded": tf.io.FixedLenFeature([], tf.string)}
    records = tf.data.TFRecordDataset(shards).map(lambda r: tf.io.parse_single_example(r, spec))
    return tf.stack([r["image/encoded"] for r in records])


def test_served_masks_equal_the_model_on_pipeline_images(records_dir, tmp_path):
    images, _ = next(iter(load_dataset(records_dir, "validation", image_size=(SIZE, SIZE),
                                       batch_size=12)))
    encoded = encoded_images(records_dir, "validation")
    assert encoded.shape[0] == images.shape[0] == 12

    pixels, original_size = decode_batch(encoded, (SIZE, SIZE))
    np.testing.assert_array_equal(pixels, images)  # bit for bit, not just close
    assert np.all(original_size.numpy() > SIZE)

    keras.utils.set_random_seed(1)
    model = build_model("chapter", image_size=(SIZE, SIZE))
    served = tf.saved_model.load(str(export_saved_model(model, tmp_path / "export")))
    masks = served.signatures["serving_default"](images=encoded)["masks"].numpy()
    expected = np.argmax(model.predict(images, verbose=0), axis=-1)
    assert np.mean(masks == expected) >= 0.99
