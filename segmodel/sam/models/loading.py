"""Loading keras-hub SAM presets (see segmodel.models.presets) and running the encoder in a dtype."""

from segmodel.models.presets import global_policy, load_task

# Public dtype names -> Keras mixed policies: weights stay float32 (so the saved preset
# weights load unchanged), matmuls run in the low precision.
POLICIES = {None: None, "float32": None, "bfloat16": "mixed_bfloat16",
            "float16": "mixed_float16"}


def load_segmenter(preset, **kwargs):
    """`keras_hub.models.SAMImageSegmenter` from a preset name or a local preset folder (see
    `load_task`)."""
    import keras_hub  # deferred: importing keras-hub costs seconds

    return load_task(keras_hub.models.SAMImageSegmenter, preset, kind="SAM",
                     example="sam_base_sa1b", **kwargs)


def encoder_in_precision(encoder, dtype):
    """`encoder` itself for float32, else a copy built under the matching mixed policy."""
    policy = POLICIES[dtype]
    if policy is None:
        return encoder
    with global_policy(policy):
        copy = encoder.__class__.from_config(encoder.get_config())
    copy.set_weights(encoder.get_weights())
    return copy
