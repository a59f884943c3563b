"""Loading keras-hub SAM presets (see segmodel.models.presets), checking a loaded SAM can be
prompted, and running its encoder in a dtype."""

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


def check_segmenter(segmenter, dtype):
    """The backbone of `segmenter` after checking `SamPredictor(segmenter, dtype)` can use it:
    TypeError unless it is a SAMImageSegmenter, ValueError for an unknown `dtype` or a
    prompt encoder that does not compute in float32."""
    backbone = getattr(segmenter, "backbone", None)
    if not all(hasattr(backbone, a) for a in ("image_encoder", "prompt_encoder",
                                                "mask_decoder")):
        raise TypeError(
            f"SamPredictor needs a keras_hub.models.SAMImageSegmenter, got "
            f"{type(segmenter).__name__}."
        )
    if dtype not in POLICIES:
        raise ValueError(
            f"dtype must be one of {[d for d in POLICIES if d]} or None, got "
            f"{dtype!r}."
        )
    if backbone.prompt_encoder.compute_dtype != "float32":
        raise ValueError(
            "The segmenter's prompt encoder computes in "
            f"{backbone.prompt_encoder.compute_dtype}; keras-hub's SAMPromptEncoder "
            "only works in float32 on TensorFlow. Load the model under the float32 "
            "policy and pass dtype='bfloat16' or 'float16' to SamPredictor instead."
        )
    return backbone


def encoder_in_precision(encoder, dtype):
    """`encoder` itself for float32, else a copy built under the matching mixed policy."""
    policy = POLICIES[dtype]
    if policy is None:
        return encoder
    with global_policy(policy):
        copy = encoder.__class__.from_config(encoder.get_config())
    copy.set_weights(encoder.get_weights())
    return copy
