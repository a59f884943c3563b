"""Training on several machines: MultiWorkerMirroredStrategy and a `strategy.run` loop.

Keras 3's `fit` fails under MultiWorkerMirroredStrategy (keras-team/keras#20585), so `train` runs
its own loop (`segmodel.distribute.worker_loop`) - `strategy.run` over
`distribute_datasets_from_function`, `tf.GradientTape`, the Keras optimizer's `apply_gradients` -
built from the pieces `segmodel.training.loop.train` uses (the model, loss, metrics, optimizer,
precision policy and `segdata.load_dataset`), so the one- and multi-worker paths cannot drift
apart. This module checks the arguments and sets up the cluster and the run folder.

Every worker runs the same command; the cluster comes from a cluster resolver (TF_CONFIG or
Slurm: tools/train.py picks it). Who writes what in RUN (the output folder):
  chief (task "chief", or worker 0 when the cluster has no chief): model.keras (the best epoch
    by the run's best_checkpoint_metric), history.csv, logs/ (TensorBoard), checkpoints/
    (every epoch), options.json, loss.png, prediction.png and run.json;
  other workers: the same model and checkpoint saves (every worker must take part in a save)
    into a scratch folder of their own, removed when training ends.
`--resume` restores every worker from RUN/checkpoints, so RUN must sit on a filesystem all
workers read (NFS, gs://); workers that restore different epochs stop with an error.
"""

import os
import shutil
import tempfile

from segmodel.distribute.cluster import (
    ClusterError,
    cluster_role,
    gather_values,
    make_multiworker_strategy,
)
from segmodel.distribute.strategy import describe
from segmodel.distribute.worker_input import check_pipelines_get_data, validation_steps
from segmodel.distribute.worker_loop import run_loop
from segmodel.training import callbacks as cb
from segmodel.training import runinfo
from segmodel.training.build import check_model, pick_splits
from segmodel.training.config import make_config
from segmodel.training.precision import set_precision
from segmodel.training.run_folder import prepare_run_dir

CHECKPOINT_DIR = runinfo.CHECKPOINT_DIR


def train(records, output_dir, config=None, *, cluster_resolver=None, log=print, **options):
    """Train on every worker of the cluster; returns the run summary (written by the chief).

    Args mirror `segmodel.training.loop.train` (config / **options: a TrainConfig and overrides;
    batch_size is global, split over all replicas of all workers; strategy is "multiworker";
    cpu_replicas, data_service and the fine-tuning options are refused). Each epoch is
    `num_train // batch_size` steps over a repeated, file-sharded input, so every worker ends
    the epoch together. Validation counts every example exactly once: each worker reads its
    part once, padded to the common step count with ignored examples (see
    `segmodel.distribute.worker_input`); metrics are summed over all replicas. verbose: 0 = no
    epoch lines,
    1 = a progress bar of the training steps on the chief, then the epoch line, 2 or "auto" =
    one line per epoch (several workers' progress bars would interleave in one log).

    Raises:
      TrainingDiverged: a trainable weight became NaN/inf (run.json says "diverged").
      ValueError / FileExistsError: bad arguments, records or run folder.
      ClusterError: the chief refused the run folder, or workers restored different epochs.
    """
    import segdata

    c = make_config(config, **options).replace(strategy="multiworker")
    unsupported = {"cpu_replicas": (None, "--cpu-replicas cannot be combined with --strategy "
                                          "multiworker"),
                   "data_service": (None, "--data-service is not supported with --strategy "
                                          "multiworker yet: train on one machine with the "
                                          "service, or without it on several"),
                   "freeze_backbone_epochs": (0, None), "backbone_lr_scale": (1.0, None),
                   **{name: (None, "--crop-size, --class-weights and --max-minutes (and the "
                                   "recipes that set them) are not supported with --strategy "
                                   "multiworker yet")
                      for name in ("crop_size", "class_weights", "max_minutes")}}
    for name, (default, message) in unsupported.items():
        if getattr(c, name) != default:
            raise ValueError(message or "--freeze-backbone-epochs and --backbone-lr-scale are "
                             "not supported with --strategy multiworker yet")
    # run.json's "options": the arguments this loop takes.
    options = {"records": records, "output_dir": output_dir, "strategy": "multiworker",
               **{k: getattr(c, k) for k in (
                   "model", "image_size", "batch_size", "epochs", "seed", "precision", "augment",
                   "cache", "resize", "optimizer", "learning_rate", "schedule",
                   "warmup_epochs", "resume", "overwrite", "model_options", "tensorboard")}}
    _, image_size = check_model(c.model, c.image_size, c.model_options)
    options["image_size"] = list(image_size)
    if int(c.epochs) < 1 or int(c.batch_size) < 1:
        raise ValueError(f"epochs and batch size must be >= 1, got {c.epochs} and {c.batch_size}")
    dist = make_multiworker_strategy(cluster_resolver)
    policy = set_precision(c.precision)
    replicas = dist.num_replicas_in_sync
    task_type, task_id, workers, chief = cluster_role(dist)
    # TF 2.x names the class CollectiveAllReduceStrategy; users know it by its public alias.
    described = describe(dist).replace("CollectiveAllReduceStrategy", "MultiWorkerMirroredStrategy")
    log(f"strategy: {described}")
    log(f"workers: {workers} (this is {task_type or 'worker'} {task_id or 0}"
        f"{', the chief' if chief else ''})")
    log(f"replicas: {replicas}")
    log(f"precision policy: {policy}")

    manifest = segdata.read_manifest(records)
    train_split, val_split = pick_splits(manifest)
    num_train = manifest["splits"][train_split]["num_examples"]
    if c.batch_size % replicas or num_train < c.batch_size:
        raise ValueError(f"batch size {c.batch_size} must be a multiple of the {replicas} replicas "
                         f"and at most the {num_train} training images; change --batch-size")
    steps = num_train // c.batch_size
    val_steps = validation_steps(manifest, val_split, workers, c.batch_size)
    check_pipelines_get_data(manifest, train_split, workers)  # validation needs no such rule

    # Only the chief touches RUN; the others learn through the barrier whether that worked, so a
    # refused run folder stops every worker instead of leaving them waiting for a collective.
    scratch = None if chief else tempfile.mkdtemp(prefix=f"segkit-{task_type}-{task_id}-")
    out_dir = output_dir if chief else scratch
    try:
        problem = None
        if chief:
            try:
                prepare_run_dir(output_dir, resume=c.resume, overwrite=c.overwrite)
                if c.resume and not os.path.isdir(os.path.join(output_dir, CHECKPOINT_DIR)) \
                        and os.path.isdir(os.path.join(output_dir, cb.BACKUP_DIR)):
                    raise ValueError(f"{output_dir} was trained on one machine (backup/, no "
                                     f"{CHECKPOINT_DIR}/): resume it without --strategy "
                                     f"multiworker, or use another --output-dir")
                runinfo.check_resume_options(output_dir, options)
            except (ValueError, FileExistsError) as err:
                problem = err
        if gather_values(dist, 0.0 if problem else 1.0).min() < 1:
            if problem:
                raise problem
            raise ClusterError("the chief refused the run folder; its log says why")
        run_config = c.replace(image_size=image_size,
                               verbose=2 if c.verbose == "auto" else int(c.verbose))
        summary = runinfo.start(options, policy=policy, strategy=described, replicas=replicas,
                                splits=(train_split, val_split), manifest=manifest)
        summary["workers"] = workers
        return run_loop(dist, records, output_dir, out_dir, chief, run_config, manifest,
                        summary, steps, val_steps, log)
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
