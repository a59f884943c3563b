"""Exact multi-worker validation (segmodel.distribute.worker_input), with simulated input pipelines.

No cluster: each pipeline's dataset is built with its own tf.distribute.InputContext, as
`distribute_datasets_from_function` would on each worker. The records have 11 validation images
in 3 shard files (4, 3, 4): over 2 pipelines by file that is 8 and 3 images, over 4 pipelines
(more pipelines than files) by example 3, 3, 3, 2; over 12, one pipeline gets no image.
"""

import contextlib
import hashlib

import numpy as np
import pytest

pytestmark = pytest.mark.slow

IMAGE_SIZE = 32


@pytest.fixture(scope="module")
def uneven_records(pets_dir, tmp_path_factory):
    from segdata.records.convert import build_records

    out = tmp_path_factory.mktemp("uneven") / "records"
    build_records(pets_dir, out, split="holdout", val_size=11, seed=1337, num_shards=3,
                  workers=1, progress=False)
    return out


def contexts(pipelines):
    import tensorflow as tf

    return [tf.distribute.InputContext(num_input_pipelines=pipelines, input_pipeline_id=i,
                                       num_replicas_in_sync=pipelines)
            for i in range(pipelines)]


def streams(records, pipelines, batch_size, resize="stretch"):
    """([[(images, masks)] per pipeline], steps) of the padded validation streams."""
    import segdata
    from segmodel.distribute.worker_input import padded_dataset, validation_steps

    manifest = segdata.read_manifest(records)
    steps = validation_steps(manifest, "validation", pipelines, batch_size)
    by_example = pipelines > 3  # more pipelines than the 3 files: load_dataset warns
    with pytest.warns(UserWarning, match="shard file") if by_example else contextlib.nullcontext():
        datasets = [padded_dataset(records, "validation", ctx, batch_size=batch_size,
                                   steps=steps, image_size=IMAGE_SIZE, resize=resize)
                    for ctx in contexts(pipelines)]
    return [[(i.numpy(), m.numpy()) for i, m in ds] for ds in datasets], steps


def digests(batches):
    """Sorted SHA-256 of every non-padding example's image and mask bytes."""
    out = []
    for images, masks in batches:
        for image, mask in zip(images, masks):
            if (mask != 255).any():
                out.append(hashlib.sha256(image.tobytes() + mask.tobytes()).hexdigest())
    return sorted(out)


def local_batches(records, batch_size, resize="stretch"):
    import segdata

    ds = segdata.load_dataset(records, "validation", image_size=IMAGE_SIZE,
                              batch_size=batch_size, resize=resize)
    return [(i.numpy(), m.numpy()) for i, m in ds]


@pytest.mark.parametrize("pipelines, expected", [(2, [8, 3]), (4, [3, 3, 3, 2]),
                                                  (12, [1] * 11 + [0])])  # one gets only padding
def test_padded_streams_cover_every_example_once(uneven_records, pipelines, expected):
    import segdata
    from segmodel.distribute.worker_input import pipeline_counts

    manifest = segdata.read_manifest(uneven_records)
    assert [s["num_examples"] for s in manifest["splits"]["validation"]["shards"]] == [4, 3, 4]
    assert pipeline_counts(manifest, "validation", pipelines) == expected
    batch_size = 2 * pipelines  # 2 per replica, one replica per pipeline
    per_pipeline, steps = streams(uneven_records, pipelines, batch_size)
    assert steps == -(-max(expected) // 2)  # the longest part decides; old rule: ceil(11 / B)
    for batches, count in zip(per_pipeline, expected):
        assert len(batches) == steps  # the same number of steps on every worker
        assert all(images.shape == (2, IMAGE_SIZE, IMAGE_SIZE, 3) for images, _ in batches)
        masks = np.concatenate([m for _, m in batches])
        real = (masks != 255).reshape(len(masks), -1).any(axis=1)
        assert real.sum() == count and not real[count:].any()  # its examples, then padding
        assert (masks[count:] == 255).all()
    # Every validation example exactly once over all pipelines: same bytes as the local pipeline.
    every = digests([b for batches in per_pipeline for b in batches])
    assert every == digests(local_batches(uneven_records, 5))
    assert len(every) == len(set(every)) == 11


@pytest.mark.parametrize("resize", ["stretch", "pad"])
def test_metrics_over_padded_streams_equal_the_local_ones(uneven_records, resize):
    """A fixed model scored the multi-worker way (2 pipelines, padded, batches of 2) and on the
    plain local split (batches of 5): the same loss and IoUs. Under "pad" the real images hold
    ignored pixels too, so the loss must be weighted by valid pixels, not by batch."""
    import keras
    import tensorflow as tf

    from segmodel.distribute.worker_input import update_metrics
    from segmodel.training.metrics import make_loss, make_metrics

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3)),
                              keras.layers.Rescaling(1 / 255),
                              keras.layers.Conv2D(3, 3, padding="same", activation="softmax")])
    loss_fn = make_loss()

    def score(batches):
        group = [keras.metrics.Mean(name="loss")] + make_metrics(3)
        for images, masks in batches:
            probs = tf.cast(model(images), tf.float32)
            update_metrics(group, masks, probs, loss_fn(masks, probs))
        return [float(m.result()) for m in group]

    per_pipeline, _ = streams(uneven_records, 2, 4, resize)
    padded = score([b for batches in per_pipeline for b in batches])
    local_list = local_batches(uneven_records, 5, resize)
    local = score(local_list)
    np.testing.assert_allclose(padded, local, rtol=1e-5)
    # And the loss is the plain mean cross-entropy over all non-ignored pixels.
    masks = np.concatenate([m for _, m in local_list])[..., 0]
    probs = model.predict(np.concatenate([i for i, _ in local_list]), verbose=0)
    keep = masks != 255
    if resize == "pad":
        assert not keep.all()  # the test exercises ignored pixels inside real images
    picked = np.take_along_axis(probs, np.where(keep, masks, 0)[..., None].astype(int), -1)[..., 0]
    np.testing.assert_allclose(local[0], -np.log(picked[keep]).mean(), rtol=1e-4)
    assert 0 < local[1] < 1 and 0 < local[2] < 1


def test_steps_need_a_batch_divisible_by_the_workers():
    from segmodel.distribute.worker_input import validation_steps

    manifest = {"splits": {"validation": {"shards": [{"num_examples": n} for n in (4, 3, 4)]}}}
    assert validation_steps(manifest, "validation", 1, 4) == 3  # one worker: ceil(11 / 4)
    assert validation_steps(manifest, "validation", 2, 4) == 4  # parts 8 and 3, 2 per step
    with pytest.raises(ValueError, match="multiple of the 2 workers"):
        validation_steps(manifest, "validation", 2, 5)
