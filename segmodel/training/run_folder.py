"""The run folder RUN: claiming it for a new run without mixing into an old one, and the model
file a run leaves in it at the size it should be read at.
"""

import os
import shutil

import keras

from segmodel.training import callbacks as cb
from segmodel.training import runinfo


def prepare_run_dir(run_dir, *, resume=False, overwrite=False):
    """Create RUN, refusing to mix a new run into an old one.

    Without resume, a RUN that already holds run files is an error (overwrite=True deletes
    exactly those files first); other files in RUN are never touched.
    """
    if resume and overwrite:
        raise ValueError("choose either resume or overwrite, not both")
    os.makedirs(run_dir, exist_ok=True)
    ours = [n for n in runinfo.RUN_FILES if os.path.exists(os.path.join(run_dir, n))]
    if ours and not resume:
        if not overwrite:
            raise FileExistsError(
                f"{run_dir} already holds a training run ({', '.join(ours)}); pass --resume to "
                f"continue it, --overwrite to start again, or choose another --output-dir"
            )
        for name in ours:
            path = os.path.join(run_dir, name)
            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)


def fix_input_size(run_dir, build):
    """Re-save RUN/model.keras, trained at any size (on crops), as the same weights in a model
    built by `build()` at the run's base size, so that any code that reads the model's input
    shape (exporters, other runtimes, re-scoring scripts) sees the size to resize photos to."""
    path = os.path.join(run_dir, cb.MODEL_FILE)
    if not os.path.isfile(path):
        return
    trained = keras.models.load_model(path, compile=False)
    fixed = build()
    fixed.set_weights(trained.get_weights())
    temp = os.path.join(run_dir, f".tmp-{os.getpid()}-{cb.MODEL_FILE}")
    fixed.save(temp)
    os.replace(temp, path)
