"""keras-hub presets: a name or a local folder written by `save_to_preset`, loaded offline when
it is a folder, with errors that say what to pass instead. Shared by SAM, SAM 3 and the
keras-hub segmenters (segmodel.models.hub)."""

import contextlib
import os

import keras


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


def resolve_preset(preset, example="sam_base_sa1b"):
    """A preset name stays a name; an existing folder becomes an absolute path.

    keras-hub checks its built-in names before the file system, so a relative folder
    called e.g. `sam_base_sa1b` would otherwise be fetched from Kaggle. `example` is the
    preset name the error messages suggest.
    """
    path = os.fspath(preset)
    if os.path.isdir(path):
        if not os.path.isfile(os.path.join(path, "config.json")):
            raise ValueError(
                f"Preset folder {os.path.abspath(path)!r} has no config.json; create one "
                f"with model.save_to_preset(folder) or pass a keras-hub preset name "
                f"such as {example!r}."
            )
        return os.path.abspath(path)
    looks_like_path = os.sep in path or path.startswith(".") or (os.altsep or "\0") in path
    if looks_like_path and "://" not in path:
        raise FileNotFoundError(
            f"Preset folder {os.path.abspath(path)!r} does not exist; pass a folder written "
            f"by model.save_to_preset(...) or a keras-hub preset name such as "
            f"{example!r}."
        )
    return path


def check_known(resolved, known, kind):
    """ValueError unless `resolved` is a local folder, a handle ("kaggle://...") or one of
    `known` keras-hub preset names; `kind` ("SAM", "SAM 3", ...) names the family."""
    if os.path.isdir(resolved) or "://" in resolved or resolved in known:
        return
    raise ValueError(f"{resolved!r} is neither a local preset folder nor a keras-hub {kind} "
                     f"preset ({', '.join(known)}).")


def fetch_failed(resolved, err):
    """The ConnectionError for a named preset that keras-hub could not fetch (no network)."""
    return ConnectionError(
        f"Could not fetch preset {resolved!r} ({type(err).__name__}: {err}). keras-hub "
        f"downloads it from Kaggle; without network access, pass a local folder "
        f"written by save_to_preset(folder) instead.")


def load_task(task, preset, *, kind, example, **kwargs):
    """`task.from_preset` (a keras-hub task class) from a preset name or a local folder, built
    under the float32 policy whatever the caller's global policy (the prompt encoders must
    stay in float32, see `SamPredictor`). Raises ValueError for unknown names,
    ConnectionError when a named preset cannot be fetched."""
    resolved = resolve_preset(preset, example=example)
    check_known(resolved, sorted(task.presets), kind)
    try:
        with global_policy("float32"):
            return task.from_preset(resolved, **kwargs)
    except (OSError, ImportError) as err:
        if os.path.isdir(resolved):
            raise
        raise fetch_failed(resolved, err) from err
