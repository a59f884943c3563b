"""What a training run leaves behind besides the model: run.json, figures, the final report.

run.json (written atomically, after the figures, so its presence means the run is complete):
  {"status": "completed" | "diverged", "options": {...train() arguments...},
   "versions": {"python", "tensorflow", "keras", "segkit"}, "strategy": str, "replicas": int,
   "precision_policy": str, "splits": {"train": str, "validation": str},
   "epochs_completed": int, "diverged_epoch": int | null, "nonfinite_weight": str | null,
   "best_checkpoint_metric": "val_loss" | "val_mean_iou",
   "best": {"epoch": int (1-based), "val_loss", "val_foreground_iou", "val_mean_iou", ...},
   "final": {... metrics of the last finished epoch ...},
   "max_val_foreground_iou": float, "max_val_mean_iou": float}
"best" is the epoch whose model ModelCheckpoint kept in model.keras (lowest val_loss, or highest
val_mean_iou: the run's best_checkpoint_metric).
"""

import json
import math
import os
import platform
import time

from segdata.io.atomic import write_json_atomic
from segmodel.training import callbacks as cb
from segmodel.training import curves as figures

SUMMARY_FILE = "run.json"
OPTIONS_FILE = "options.json"  # written at the start: what --resume must agree with
LOSS_FIGURE = "loss.png"
PREDICTION_FIGURE = "prediction.png"
CHECKPOINT_DIR = "checkpoints"  # tf.train.CheckpointManager's, for multi-worker runs
RUN_FILES = (cb.MODEL_FILE, cb.HISTORY_FILE, cb.BACKUP_DIR, cb.LOG_DIR, SUMMARY_FILE,
             OPTIONS_FILE, LOSS_FIGURE, PREDICTION_FIGURE, CHECKPOINT_DIR)
# Options that change the weights' shapes: resuming with other values cannot load the backup.
SHAPE_OPTIONS = ("model", "image_size", "model_options")
# Fixed for a run's life too: the best value so far travels in the backup. Each with the value
# of runs started before the option existed.
KEPT_OPTIONS = {"best_checkpoint_metric": "val_loss"}


def _jsonable(value):
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def dataset_info(manifest):
    """The record set's classes as run.json's "dataset" entry: what export and predict name
    and colour the classes by (Pets sets written before "classes" existed get Pets' own)."""
    from segdata.records import labels

    classes, foreground = labels.dataset_classes(manifest)
    palette = manifest.get("palette") or [list(c) for c in labels.PETS_PALETTE]
    return {"format": manifest.get("format", "pets"), "classes": classes,
            "palette": palette, "foreground_class": foreground,
            "ignore_label": manifest.get("ignore_label", labels.IGNORE_LABEL)}


def start(options, *, policy, strategy, replicas, splits, manifest=None):
    """The part of the summary known before training."""
    import keras
    import tensorflow as tf

    import segmodel

    return {
        "status": "running",
        "options": _jsonable(options),
        "versions": {"python": platform.python_version(), "tensorflow": tf.__version__,
                     "keras": keras.__version__, "segkit": segmodel.__version__},
        "strategy": strategy,
        "replicas": int(replicas),
        "precision_policy": policy,
        "splits": {"train": splits[0], "validation": splits[1]},
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **({"dataset": dataset_info(manifest)} if manifest is not None else {}),
    }


def finish(summary, history, *, diverged_epoch=None, nonfinite_weight=None,
           best_metric="val_loss"):
    """Add results from the history.csv rows (0-based "epoch" column) to the summary; "best" is
    the epoch model.keras kept, by `best_metric` (callbacks.BEST_METRICS)."""
    summary = dict(summary)
    summary["status"] = "diverged" if diverged_epoch is not None else "completed"
    summary["diverged_epoch"] = diverged_epoch
    summary["nonfinite_weight"] = nonfinite_weight
    summary["epochs_completed"] = len(history)
    summary["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    summary["best_checkpoint_metric"] = best_metric
    best = cb.best_row(history, best_metric)
    if best is not None:
        summary["best"] = _jsonable({**best, "epoch": best["epoch"] + 1})
    if history:
        summary["final"] = _jsonable({**history[-1], "epoch": history[-1]["epoch"] + 1})
        for key in ("val_foreground_iou", "val_mean_iou"):
            values = [r[key] for r in history if math.isfinite(r.get(key, math.nan))]
            summary[f"max_{key}"] = max(values) if values else None
    return summary


def check_resume_options(run_dir, options):
    """On --resume: raise ValueError if the model-shaping options (or KEPT_OPTIONS) differ from
    the first run's; otherwise (re)write RUN/options.json with these options."""
    path = os.path.join(run_dir, OPTIONS_FILE)
    if options.get("resume") and os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            before = json.load(f)
        now = _jsonable(options)
        for key, old in KEPT_OPTIONS.items():
            before.setdefault(key, old)
            now.setdefault(key, old)
        changed = [k for k in (*SHAPE_OPTIONS, *KEPT_OPTIONS) if before.get(k) != now.get(k)]
        if changed:
            raise ValueError(
                f"cannot resume {run_dir}: it was started with " + ", ".join(
                    f"{k}={before.get(k)!r}" for k in changed) + " but this run asks for "
                + ", ".join(f"{k}={now.get(k)!r}" for k in changed)
                + "; use the same values, or --overwrite to start again")
    write_summary(run_dir, options, name=OPTIONS_FILE)


def write_summary(run_dir, summary, name=SUMMARY_FILE):
    """Write RUN/run.json (or another JSON file of the run) atomically."""
    path = os.path.join(run_dir, name)
    write_json_atomic(path, _jsonable(summary), sort_keys=True)
    return path


def write_figures(run_dir, history, val_ds, *, log=print, manifest=None):
    """loss.png from the history; prediction.png from the saved best model on a validation image.

    val_ds yields (float32 [B,H,W,3], uint8 [B,H,W,1]); its first image is shown.
    """
    import keras

    if history:
        figures.plot_loss(history, os.path.join(run_dir, LOSS_FIGURE))
    model_path = os.path.join(run_dir, cb.MODEL_FILE)
    if not os.path.exists(model_path):
        log(f"no {cb.MODEL_FILE} was saved (no finite validation score): skipping "
            f"{PREDICTION_FIGURE}")
        return
    # The saved best model, not the last weights: the figure shows what the user will serve.
    best = keras.models.load_model(model_path, compile=False)
    images, masks = next(iter(val_ds.take(1)))
    probabilities = best.predict(images[:1], verbose=0)
    colours = {}
    if manifest and manifest.get("format", "pets") != "pets":
        colours = {"classes": manifest.get("classes"), "palette": manifest.get("palette")}
    figures.plot_prediction(images[0].numpy(), masks[0].numpy(), probabilities[0],
                            os.path.join(run_dir, PREDICTION_FIGURE), **colours)


def log_result(summary, log=print):
    """The end-of-run lines: best validation foreground IoU and mean IoU."""
    best = summary.get("best") or {}
    fg = "val_foreground_iou" in (best or summary.get("final") or {"val_foreground_iou": 0})
    log((f"best val foreground IoU: {summary.get('max_val_foreground_iou')}  " if fg else "")
        + f"best val mean IoU: {summary.get('max_val_mean_iou')}")
    if best:
        metric = summary.get("best_checkpoint_metric", "val_loss")
        which = "lowest" if cb.BEST_METRICS[metric] == "min" else "highest"
        log(f"saved model (epoch {best['epoch']}, {which} {metric} {best.get(metric):.4f}): "
            + (f"val foreground IoU {best.get('val_foreground_iou'):.4f}, " if fg else "")
            + f"val mean IoU {best.get('val_mean_iou'):.4f}")
