"""Start a run from an earlier run's weights (`segkit train --init-from RUN/model.keras`): the
active-learning loop's "continue training on the grown set".

The earlier model must be the same architecture (every weight the same shape, in the same
order) and predict the same classes as the new records (run.json's "dataset" classes beside
the file against the manifest's); otherwise a ValueError names both. Only the weights are
taken: the optimizer, its schedule and the epoch count start afresh, as a fine-tuning run
does (use --resume to continue an interrupted run instead).
"""

import json
import pathlib

from segdata.records import labels


def earlier_classes(path):
    """The classes of the run that wrote `path` (run.json beside it), or None."""
    run = pathlib.Path(path).resolve().parent / "run.json"
    try:
        return (json.loads(run.read_text(encoding="utf-8")).get("dataset") or {}).get("classes")
    except (OSError, ValueError, AttributeError):
        return None


def load_model_file(path):
    """keras.Model (uncompiled) from an earlier run's model file; errors name the file."""
    import keras

    import segmodel.models.builtin  # noqa: F401 - registers segkit's layers for loading

    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--init-from {path} does not exist; pass an earlier run's "
                                "model file, RUN/model.keras.")
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as error:  # Keras raises many types for a bad file
        raise ValueError(f"--init-from: could not load a Keras model from {path} ({error}); "
                         "pass the model.keras an earlier segkit train wrote.") from error


def check_classes(path, manifest, num_outputs):
    """ValueError naming both lists when the earlier run's classes are not the records'."""
    names = list(labels.dataset_classes(manifest)[0])
    earlier = earlier_classes(path)
    if earlier is not None and list(earlier) != names:
        raise ValueError(f"--init-from {path} was trained on the classes {list(earlier)} but "
                         f"the records have {names}; rebuild the records with the same classes "
                         "or train from scratch.")
    if num_outputs != len(names):
        raise ValueError(f"--init-from {path} predicts {num_outputs} classes but the records "
                         f"have {len(names)} {names}.")


def load_checked(path, manifest):
    """The earlier model (keras.Model) from `path`, its classes checked against the records'
    (`manifest`); cheap next to a run, so done before the datasets and the model are built."""
    earlier = load_model_file(path)
    check_classes(path, manifest, int(earlier.outputs[0].shape[-1]))
    return earlier


def copy_weights(net, earlier, path):
    """Assign every weight of `earlier` (from `path`) to `net`, in order.

    Raises:
      ValueError naming the file when the two are not the same architecture.
    """
    old, new = earlier.weights, net.weights
    if [tuple(w.shape) for w in old] != [tuple(w.shape) for w in new]:
        raise ValueError(f"--init-from {path} is a {earlier.name!r} model with {len(old)} "
                         f"weights; --model builds {net.name!r} with {len(new)} weights of other "
                         "shapes. Pass the earlier run's --model and model options.")
    for target, source in zip(new, old):
        target.assign(source.numpy())
