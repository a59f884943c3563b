"""How a split divides between the workers' input pipelines; exact multi-worker validation.

Collectives need every worker to run the same number of validation steps, but a split rarely
divides evenly between the workers' input pipelines (3 shard files over 2 workers: 8 and 3
images). Repeating the shorter part would count some images twice. Instead each pipeline reads
its own part once and pads it to the common length with blank examples whose mask is all
`IGNORE_LABEL`: the loss and IoU metrics ignore those pixels, and the loss metric is weighted by
each batch's share of valid pixels (`update_metrics`), so padding adds nothing and every example
counts exactly once, on any number of workers and shards.

The per-pipeline counts come from the manifest with `segdata.load_dataset`'s rule (by shard file
when there are at least as many files as pipelines, else by example), so every worker computes the
same step count without talking to the others.
"""

import tensorflow as tf

from segdata.records.labels import IGNORE_LABEL


def pipeline_counts(manifest, split, pipelines):
    """[int] * pipelines: examples of `split` each input pipeline reads (load_dataset's rule).

    By file: pipeline k reads shards k, k+P, ...; with fewer files than pipelines, pipeline k
    keeps examples k, k+P, ... of the whole split.
    """
    counts = [int(s["num_examples"]) for s in manifest["splits"][split]["shards"]]
    if pipelines == 1 or len(counts) >= pipelines:
        return [sum(counts[k::pipelines]) for k in range(pipelines)]
    return [len(range(k, sum(counts), pipelines)) for k in range(pipelines)]


def check_pipelines_get_data(manifest, split, pipelines):
    """ValueError unless each of `pipelines` input pipelines gets an example of `split`.

    A pipeline without data would end its repeated (training) dataset at once.
    """
    per_pipeline = pipeline_counts(manifest, split, pipelines)
    if min(per_pipeline) < 1:
        raise ValueError(f"split {split!r} gives {per_pipeline} examples to the {pipelines} "
                         f"workers: every worker needs some; use fewer workers or records with "
                         f"more images in every shard")


def validation_steps(manifest, split, pipelines, batch_size):
    """Steps (global batches of `batch_size`) after which every pipeline has read all its part.

    Each step takes batch_size / pipelines examples from every pipeline (its replicas' batches);
    `batch_size` must be a multiple of `pipelines`. At least 1, even for an empty split.
    """
    per_step = batch_size // pipelines
    if per_step * pipelines != batch_size:
        raise ValueError(f"batch size {batch_size} must be a multiple of the {pipelines} workers")
    return max(1, max(-(-n // per_step) for n in pipeline_counts(manifest, split, pipelines)))


def padded_dataset(records, split, input_context, *, batch_size, steps, manifest=None,
                   **load_args):
    """This pipeline's part of `split`, read once, padded to exactly `steps` steps of batches.

    Args:
      records, split: as for `segdata.load_dataset`.
      input_context: tf.distribute.InputContext of this pipeline.
      batch_size: global batch size (each replica gets batch_size / num_replicas_in_sync).
      steps: from `validation_steps` (the same on every worker).
      manifest: the records' manifest (read from `records` when None).
      **load_args: image_size, resize, cache, options: passed to `segdata.load_dataset`.

    Returns:
      tf.data.Dataset of steps * (replicas per pipeline) batches of (images float32
      [b, H, W, 3], masks uint8 [b, H, W, 1]), b the per-replica batch; after this pipeline's
      examples (in manifest order) come blank images with masks all IGNORE_LABEL.
    """
    import segdata

    manifest = manifest if manifest is not None else segdata.read_manifest(records)
    pipelines, pipeline_id = input_context.num_input_pipelines, input_context.input_pipeline_id
    per_replica = input_context.get_per_replica_batch_size(batch_size)
    local_replicas = max(1, input_context.num_replicas_in_sync // pipelines)
    total = steps * local_replicas * per_replica
    count = pipeline_counts(manifest, split, pipelines)[pipeline_id]
    if count > total:
        raise ValueError(f"{steps} validation steps cannot hold the {count} examples of "
                         f"pipeline {pipeline_id}; compute steps with validation_steps()")
    real = segdata.load_dataset(records, split, batch_size=batch_size, shuffle=False,
                                repeat=False, drop_remainder=False, input_context=input_context,
                                **load_args).unbatch()
    image_spec, mask_spec = real.element_spec
    blank = tf.data.Dataset.from_tensors((
        tf.zeros(image_spec.shape, image_spec.dtype),
        tf.fill(mask_spec.shape, tf.constant(IGNORE_LABEL, mask_spec.dtype))))
    # assert_cardinality fails the iteration if load_dataset's split ever disagrees with
    # pipeline_counts, instead of silently dropping or double-counting examples.
    ds = real.concatenate(blank.repeat(total - count)).apply(
        tf.data.experimental.assert_cardinality(total))
    return ds.batch(per_replica, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def valid_fraction(masks):
    """float32 scalar: the batch's non-ignored pixels in units of whole examples.

    masks: int [B, H, W, 1] or [B, H, W]. B for a batch without IGNORE_LABEL, 0 for padding.
    """
    shape = tf.shape(masks)
    valid = tf.reduce_sum(tf.cast(tf.not_equal(masks, tf.cast(IGNORE_LABEL, masks.dtype)),
                                  tf.float32))
    return valid * tf.cast(shape[0], tf.float32) / tf.cast(tf.reduce_prod(shape), tf.float32)


def update_metrics(group, masks, probs, loss, replicas=1, weighted=True):
    """Add one replica's batch to `group` = [keras.metrics.Mean loss, IoU metrics...].

    Args:
      masks: int [B, H, W, 1]; probs: float32 [B, H, W, C];
      loss: the replica's scalar loss as the Keras loss returns it inside `strategy.run` (its
        valid-pixel mean divided by `replicas`, plus regularisation).
      weighted: weight the loss by `valid_fraction(masks)`: the epoch's loss is then the mean over
        all valid pixels however examples fall into batches, and padding batches add nothing
        (Keras returns 0, not NaN, for a batch without valid pixels). Off for training, whose
        batches are all real: there it is the mean of batch losses, as in `fit`.
    """
    weight = valid_fraction(masks) if weighted else None
    group[0].update_state(loss * replicas, sample_weight=weight)
    for metric in group[1:]:
        metric.update_state(masks, probs)  # IoU metrics skip IGNORE_LABEL pixels
