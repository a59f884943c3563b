"""Loading keras-hub SAM presets: names vs local folders, and dtype policies."""

import contextlib
import os

import keras

# Public dtype names -> Keras mixed policies: weights stay float32 (so the saved preset
# weights load unchanged), matmuls run in the low precision.
POLICIES = {None: None, "float32": None, "bfloat16": "mixed_bfloat16",
            "float16": "mixed_float16"}


@contextlib.contextmanager
def global_policy(name):
    """Temporarily set Keras' global dtype policy; keras-hub's ViTDet only honours the
    global policy (its `dtype=` argument reaches the outer model, not its layers)."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def resolve_preset(preset):
    """A preset name stays a name; an existing folder becomes an absolute path.

    keras-hub checks its built-in names before the file system, so a relative folder
    called e.g. `sam_base_sa1b` would otherwise be fetched from Kaggle.
    """
    path = os.fspath(preset)
    if os.path.isdir(path):
        if not os.path.isfile(os.path.join(path, "config.json")):
            raise ValueError(
                f"Preset folder {os.path.abspath(path)!r} has no config.json; create one "
                f"with segmenter.save_to_preset(folder) or pass a keras-hub preset name "
                f"such as 'sam_base_sa1b'."
            )
        return os.path.abspath(path)
    looks_like_path = os.sep in path or path.startswith(".") or (os.altsep or "\0") in path
    if looks_like_path and "://" not in path:
        raise FileNotFoundError(
            f"Preset folder {os.path.abspath(path)!r} does not exist; pass a folder written "
            f"by segmenter.save_to_preset(...) or a keras-hub preset name such as "
            f"'sam_base_sa1b'."
        )
    return path


def load_segmenter(preset, **kwargs):
    """`keras_hub.models.SAMImageSegmenter` from a preset name or a local preset folder,
    built under the float32 policy (see `SamPredictor`). Raises ValueError for unknown
    names, ConnectionError when a named preset cannot be fetched."""
    import keras_hub  # deferred: importing keras-hub costs seconds

    resolved = resolve_preset(preset)
    local = os.path.isdir(resolved)
    known = sorted(keras_hub.models.SAMImageSegmenter.presets)
    if not local and "://" not in resolved and resolved not in known:
        raise ValueError(
            f"{resolved!r} is neither a local preset folder nor a keras-hub SAM preset "
            f"({', '.join(known)})."
        )
    try:
        # Build under float32 whatever the caller's global policy is: the prompt
        # encoder must stay in float32 (see SamPredictor).
        with global_policy("float32"):
            return keras_hub.models.SAMImageSegmenter.from_preset(resolved, **kwargs)
    except (OSError, ImportError) as err:
        if local:
            raise
        raise ConnectionError(
            f"Could not fetch preset {resolved!r} ({type(err).__name__}: {err}). keras-hub "
            f"downloads it from Kaggle; without network access, pass a local folder "
            f"written by segmenter.save_to_preset(folder) instead."
        ) from err


def encoder_in_precision(encoder, dtype):
    """`encoder` itself for float32, else a copy built under the matching mixed policy."""
    policy = POLICIES[dtype]
    if policy is None:
        return encoder
    with global_policy(policy):
        copy = encoder.__class__.from_config(encoder.get_config())
    copy.set_weights(encoder.get_weights())
    return copy
