"""The callbacks of a training run, and the bookkeeping that makes `--resume` honest.

Everything comes from `keras.callbacks`; the one small addition, `DivergenceMonitor`, records in
which epoch training diverged so the error message can name it (TerminateOnNaN stops the run but
says nothing about when or why). It watches the weights as well as the loss: on some CPUs (oneDNN
with AVX-512) a NaN weight does not reach the loss - the model silently becomes a constant
predictor with a finite loss of ln(3) - so a loss check alone lets a dead run train on.

Files in the run folder RUN:
  model.keras     best model by the run's best-checkpoint metric, validation loss unless asked
                  otherwise (ModelCheckpoint, save_best_only; `BEST_METRICS`)
  backup/         weights, optimizer state and finished-epoch count (BackupAndRestore)
  logs/           TensorBoard event files
  history.csv     one row per finished epoch (CSVLogger)
"""

import csv
import json
import math
import os
import shutil
import time

import keras

from segdata.io.atomic import atomic_write

MODEL_FILE = "model.keras"
HISTORY_FILE = "history.csv"
BACKUP_DIR = "backup"
LOG_DIR = "logs"
# The metrics model.keras may be chosen by, and which way is better: the chapter keeps the lowest
# validation loss; Model Garden's segmentation experiments keep the highest mean IoU
# (best_checkpoint_eval_metric), which a weighted loss can disagree with late in a run.
BEST_METRICS = {"val_loss": "min", "val_mean_iou": "max"}


def best_row(history, metric="val_loss"):
    """The history row (dict) with the best finite `metric` (see BEST_METRICS), or None."""
    finite = [r for r in history if math.isfinite(r.get(metric, math.nan))]
    if not finite:
        return None
    pick = min if BEST_METRICS[metric] == "min" else max
    return pick(finite, key=lambda r: r[metric])


def first_nonfinite_weight(weights):
    """Path of the first floating-point weight holding a NaN or inf, or None when all are finite.

    Args:
      weights: Keras variables of any shape (e.g. `model.weights`); non-float ones are ignored.

    One fused reduction over every weight (a few ms even for large models); only when it fails are
    the weights looked at one by one, to name the culprit.
    """
    floats = [w for w in weights if "float" in str(w.dtype)]
    if not floats:
        return None
    finite = keras.ops.stack([keras.ops.all(keras.ops.isfinite(w.value)) for w in floats])
    if bool(keras.ops.all(finite)):
        return None
    return next(getattr(w, "path", w.name) for w, ok in zip(floats, finite) if not bool(ok))


class DivergenceMonitor(keras.callbacks.Callback):
    """Remembers the epoch (1-based, as Keras prints it) in which training diverged.

    Diverged means: a training batch's loss became NaN/inf, or at the end of an epoch some weight of
    the model (trainable or not, e.g. BatchNormalization statistics) is NaN/inf. In the second case
    the monitor stops training and sets every metric of that epoch's logs to NaN, so that the
    callbacks after it see the truth: ModelCheckpoint never keeps the broken model as "best", and
    history.csv marks the epoch. It must therefore come before ModelCheckpoint and CSVLogger.
    """

    def __init__(self):
        super().__init__()
        self.epoch = None
        self.diverged_epoch = None
        self.nonfinite_weight = None  # path of the first non-finite weight, when that was the cause

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch + 1

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if self.diverged_epoch is None and loss is not None and not math.isfinite(float(loss)):
            self.diverged_epoch = self.epoch

    def on_epoch_end(self, epoch, logs=None):
        bad = first_nonfinite_weight(self.model.weights)
        if bad is None:
            return
        self.nonfinite_weight = bad
        if self.diverged_epoch is None:
            self.diverged_epoch = epoch + 1
        self.model.stop_training = True
        if logs is not None:
            for key in logs:
                if key != "learning_rate":
                    logs[key] = math.nan


class TimeBudget(keras.callbacks.Callback):
    """A wall-clock budget of `minutes` (from the start of `fit`) for training.

    Stops after the epoch past which the next one (judged by the slowest so far) would end
    beyond the budget. With `peak_lr` it also drives the learning rate of an optimizer built
    with a constant rate: linear warm-up from peak/10 over `warmup_steps`, then cosine decay to
    0 over whichever runs out first, `total_steps` or the budget, so a run cut short by the
    clock still ends with a decayed rate instead of mid-schedule.
    """

    def __init__(self, minutes, peak_lr=None, total_steps=None, warmup_steps=0, log=print):
        super().__init__()
        self.seconds, self.log = float(minutes) * 60.0, log
        self.peak_lr, self.total_steps, self.warmup_steps = peak_lr, total_steps, warmup_steps
        self.stopped_epoch = None

    def on_train_begin(self, logs=None):
        self._start = self._last = time.monotonic()
        self._longest = 0.0
        self._step = int(self.model.optimizer.iterations.numpy())  # a resumed run goes on

    def learning_rate(self, step, elapsed):
        """The rate at optimizer step `step`, `elapsed` seconds into training."""
        if step < self.warmup_steps:
            return self.peak_lr * (0.1 + 0.9 * step / self.warmup_steps)
        steps = max(1, (self.total_steps or 1) - self.warmup_steps)
        progress = min(1.0, max((step - self.warmup_steps) / steps, elapsed / self.seconds))
        return self.peak_lr * 0.5 * (1.0 + math.cos(math.pi * progress))

    def on_train_batch_begin(self, batch, logs=None):
        if self.peak_lr is not None:
            rate = self.learning_rate(self._step, time.monotonic() - self._start)
            self.model.optimizer.learning_rate.assign(rate)
        self._step += 1

    def on_epoch_end(self, epoch, logs=None):
        now = time.monotonic()
        self._longest, self._last = max(self._longest, now - self._last), now
        if now - self._start + self._longest > self.seconds and not self.model.stop_training:
            self.model.stop_training = True
            self.stopped_epoch = epoch + 1
            self.log(f"time budget: stopping after epoch {epoch + 1} "
                     f"({(now - self._start) / 60:.1f} of {self.seconds / 60:g} minutes used)")


def finished_epochs(run_dir):
    """Number of epochs whose state BackupAndRestore saved in RUN/backup (0 if none)."""
    path = os.path.join(run_dir, BACKUP_DIR, "training_metadata.json")
    try:
        with open(path, encoding="utf-8") as f:
            return int(json.load(f)["epoch"])
    except FileNotFoundError:
        return 0
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(
            f"{path} is corrupt ({err}); delete {os.path.dirname(path)} to restart the run "
            f"from scratch"
        ) from None


def discard_diverged_backup(run_dir, diverged_epoch):
    """Roll RUN/backup back to the last state saved before `diverged_epoch` (1-based).

    Keras still ends the epoch in which TerminateOnNaN fired, so BackupAndRestore saves NaN
    weights; resuming from those would diverge at once. With double_checkpoint the previous
    epoch's state sits next to it as *.bkp. Returns the number of finished epochs kept.
    """
    backup = os.path.join(run_dir, BACKUP_DIR)
    latest = finished_epochs(run_dir)
    if latest < diverged_epoch:
        return latest
    names = ("latest.weights.h5", "training_metadata.json")
    previous = os.path.join(backup, "training_metadata.json.bkp")
    try:
        with open(previous, encoding="utf-8") as f:
            usable = int(json.load(f)["epoch"]) < diverged_epoch
    except (OSError, ValueError, KeyError, TypeError):
        usable = False
    if usable and all(os.path.exists(os.path.join(backup, n + ".bkp")) for n in names):
        for name in names:
            os.replace(os.path.join(backup, name + ".bkp"), os.path.join(backup, name))
        return finished_epochs(run_dir)
    shutil.rmtree(backup, ignore_errors=True)
    return 0


def read_history(run_dir):
    """Rows of RUN/history.csv as dicts of floats (epoch as int); [] if there is none."""
    path = os.path.join(run_dir, HISTORY_FILE)
    if not os.path.exists(path):
        return []
    with open(path, newline="", encoding="utf-8") as f:
        rows = []
        for row in csv.DictReader(f):
            rows.append({k: (int(v) if k == "epoch" else float(v)) for k, v in row.items()})
    return rows


def trim_history(run_dir, keep_epochs):
    """Drop history rows of epochs >= keep_epochs (written after the last backup); atomic rewrite.

    A crash between CSVLogger's row and BackupAndRestore's save leaves a row for an epoch that the
    resumed run will train again; without trimming, history.csv would list it twice.
    """
    rows = read_history(run_dir)
    kept = [r for r in rows if r["epoch"] < keep_epochs]
    if len(kept) == len(rows):
        return rows
    path = os.path.join(run_dir, HISTORY_FILE)
    with open(path, newline="", encoding="utf-8") as f:
        header = next(csv.reader(f))

    def write(tmp):
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=header)
            writer.writeheader()
            writer.writerows(kept)

    atomic_write(path, write)
    return kept


def make_callbacks(run_dir, *, resume=False, best_metric="val_loss", best_value=None,
                   tensorboard=True):
    """The run's callbacks, in the order they must fire.

    Args:
      run_dir: the run folder (created by the caller).
      resume: append to history.csv instead of overwriting it.
      best_metric: the metric model.keras is kept by (a key of BEST_METRICS).
      best_value: its best value before a resume, so ModelCheckpoint does not overwrite the
        saved best model with a worse first epoch after resuming.
      tensorboard: write TensorBoard logs to RUN/logs.

    Returns:
      (callbacks list, DivergenceMonitor) - the monitor is also in the list.
    """
    monitor = DivergenceMonitor()
    callbacks = [
        # First, so weights and epoch are restored before anything else looks at the model.
        # The backup is kept after a finished run: --resume with more --epochs continues it.
        keras.callbacks.BackupAndRestore(
            os.path.join(run_dir, BACKUP_DIR), double_checkpoint=True, delete_checkpoint=False
        ),
        monitor,
        keras.callbacks.TerminateOnNaN(),
        keras.callbacks.ModelCheckpoint(
            os.path.join(run_dir, MODEL_FILE),
            monitor=best_metric,
            mode=BEST_METRICS[best_metric],
            save_best_only=True,
            initial_value_threshold=best_value,
        ),
        keras.callbacks.CSVLogger(os.path.join(run_dir, HISTORY_FILE), append=resume),
    ]
    if tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(os.path.join(run_dir, LOG_DIR)))
    return callbacks, monitor
