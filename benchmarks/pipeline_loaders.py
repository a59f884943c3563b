"""What bench_pipeline.py and pipeline_memory.py both measure: the output size and batch, a
split's record bytes, the chapter's NumPy loader, and a full pass over a dataset.

Both scripts import this module; neither imports the other's loaders, so the memory script
(run in fresh processes) never pulls in the throughput benchmark.
"""

import time

IMAGE_SIZE = (200, 200)
BATCH = 64


def split_bytes(records, split="train"):
    """[(source_id, image bytes, mask bytes)] of a split, in manifest order."""
    import tensorflow as tf

    from segdata.records.manifest import read_manifest, shard_paths

    spec = {k: tf.io.FixedLenFeature([], tf.string) for k in
            ("image/source_id", "image/encoded", "image/segmentation/class/encoded")}
    out = []
    for record in tf.data.TFRecordDataset(shard_paths(records, read_manifest(records), split)):
        ex = tf.io.parse_single_example(record, spec)
        out.append(tuple(ex[k].numpy() for k in spec))
    return [(sid.decode(), image, mask) for sid, image, mask in out]


def chapter_loader(pets, names):
    """The chapter's code, verbatim in spirit: every image and target into one NumPy array."""
    import numpy as np
    from keras.utils import img_to_array, load_img

    input_imgs = np.zeros((len(names),) + IMAGE_SIZE + (3,), dtype="float32")
    targets = np.zeros((len(names),) + IMAGE_SIZE + (1,), dtype="uint8")
    for i, name in enumerate(names):
        input_imgs[i] = img_to_array(load_img(pets / "images" / f"{name}.jpg",
                                              target_size=IMAGE_SIZE))
        img = img_to_array(load_img(pets / "annotations" / "trimaps" / f"{name}.png",
                                    target_size=IMAGE_SIZE, color_mode="grayscale"))
        targets[i] = img.astype("uint8") - 1
    return input_imgs, targets


def drain(ds):
    """Iterate a dataset fully; returns (number of examples, seconds until the first batch).

    The first-batch time is the pass's fixed cost made visible: creating the iterator
    (instantiating every function of the pipeline), opening shards, filling a shuffle buffer.
    """
    start = time.perf_counter()
    n, first = 0, None
    for images, _ in ds:
        first = time.perf_counter() - start if first is None else first
        n += int(images.shape[0])
    return n, first
