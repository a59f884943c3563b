"""Training on several machines: MultiWorkerMirroredStrategy and a `strategy.run` loop.

Keras 3's `fit` fails under MultiWorkerMirroredStrategy (keras-team/keras#20585), so `train` runs
its own loop - `strategy.run` over `distribute_datasets_from_function`, `tf.GradientTape`, the
Keras optimizer's `apply_gradients` - built from the pieces `segmodel.training.loop.train` uses (the
model, loss, metrics, optimizer, precision policy and `segdata.load_dataset`), so the one- and
multi-worker paths cannot drift apart.

Every worker runs the same command; the cluster comes from a cluster resolver (TF_CONFIG or
Slurm: tools/train.py picks it). Who writes what in RUN (the output folder):
  chief (task "chief", or worker 0 when the cluster has no chief): model.keras (best val_loss),
    history.csv, logs/ (TensorBoard), checkpoints/ (every epoch), options.json, loss.png,
    prediction.png and run.json;
  other workers: the same model and checkpoint saves (every worker must take part in a save)
    into a scratch folder of their own, removed when training ends.
`--resume` restores every worker from RUN/checkpoints, so RUN must sit on a filesystem all
workers read (NFS, gs://); workers that restore different epochs stop with an error.
"""

import math
import os
import shutil
import tempfile
import time

import keras
import tensorflow as tf

from segdata.io.atomic import atomic_write
from segdata.records.labels import dataset_classes
from segmodel.distribute import run_state
from segmodel.distribute.cluster import (
    ClusterError,
    cluster_role,
    gather_values,
    make_multiworker_strategy,
    state_averager,
    weights_fingerprint,
)
from segmodel.distribute.strategy import describe
from segmodel.distribute.worker_input import (
    check_pipelines_get_data,
    padded_dataset,
    update_metrics,
    validation_steps,
)
from segmodel.training import callbacks as cb
from segmodel.training import runinfo
from segmodel.training.build import (
    check_model,
    compile_model,
    make_model,
    make_optimizer,
    pick_splits,
)
from segmodel.training.config import make_config
from segmodel.training.loop import TrainingDiverged, diverged_message
from segmodel.training.metrics import make_loss, make_metrics
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
        return _run(dist, records, output_dir, out_dir, chief, run_config, manifest, summary,
                    steps, val_steps, log)
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)


def _run(dist, records, run_dir, out_dir, chief, a, manifest, summary, steps, val_steps, log):
    """The loop of `train` (its TrainConfig `a`, image_size as (H, W), verbose an int); out_dir
    is RUN on the chief, scratch elsewhere."""
    import segdata

    splits = summary["splits"]["train"], summary["splits"]["validation"]
    policy = summary["precision_policy"]
    if a.seed is not None:
        keras.utils.set_random_seed(a.seed)
    num_classes = manifest.get("num_classes", 3)

    def train_fn(input_context):
        return segdata.load_dataset(
            records, splits[0], image_size=a.image_size, batch_size=a.batch_size,
            shuffle=True, seed=a.seed, augment=a.augment, cache=a.cache,
            resize=a.resize, repeat=True, drop_remainder=True, input_context=input_context)

    def val_fn(input_context):
        return padded_dataset(records, splits[1], input_context, batch_size=a.batch_size,
                              steps=val_steps, manifest=manifest, image_size=a.image_size,
                              cache=a.cache, resize=a.resize)

    train_ds = dist.distribute_datasets_from_function(train_fn)
    val_ds = dist.distribute_datasets_from_function(val_fn)
    with dist.scope():
        net = make_model(a.model, a.image_size, num_classes, a.model_options)
        compile_model(net, make_optimizer(
            a.optimizer, a.learning_rate, schedule=a.schedule,
            total_steps=steps * a.epochs, warmup_steps=steps * a.warmup_epochs),
            num_classes, dataset_classes(manifest)[1])
        opt = net.optimizer  # a LossScaleOptimizer under mixed_float16, as `fit` would use
        opt.build(net.trainable_variables)
        loss_fn = make_loss()
        metrics = {prefix: [keras.metrics.Mean(name="loss")] + make_metrics(
                       num_classes, foreground_class=dataset_classes(manifest)[1])
                   for prefix in ("", "val_")}

    # Outside the scope: plain variables, saved in every checkpoint beside model and optimizer.
    finished = tf.Variable(0, dtype=tf.int64, trainable=False)
    best = tf.Variable(math.inf, dtype=tf.float64, trainable=False)
    # The inner optimizer, not a LossScaleOptimizer: the checkpoint then has the same layout under
    # every precision policy, so a run that diverged under mixed_float16 can resume in float32
    # (the loss scale starts again from its initial value and adapts within a few steps).
    checkpoint = tf.train.Checkpoint(model=net, optimizer=getattr(opt, "inner_optimizer", opt),
                                     finished_epochs=finished, best_val_loss=best)
    done = run_state.restore(dist, checkpoint, finished, os.path.join(run_dir, CHECKPOINT_DIR),
                             a.resume)
    manager = tf.train.CheckpointManager(checkpoint, os.path.join(out_dir, CHECKPOINT_DIR),
                                         max_to_keep=2)
    history = cb.trim_history(run_dir, done) if chief and a.resume else []
    if a.resume:
        log(f"resuming after {done} finished epoch(s)" if done else
            "nothing to resume: starting from epoch 1")
        if done >= a.epochs:
            log(f"the run already finished {done} epoch(s); raise --epochs to train further")
    if chief and os.path.exists(os.path.join(run_dir, runinfo.SUMMARY_FILE)):
        os.remove(os.path.join(run_dir, runinfo.SUMMARY_FILE))  # a resumed run is unfinished

    def step(images, masks, training):
        group = metrics["" if training else "val_"]
        with tf.GradientTape() as tape:
            probs = tf.cast(net(images, training=training), tf.float32)
            # Keras losses already divide a replica's mean by the replica count, so the summed
            # gradients are those of the global batch's mean loss, exactly as in `fit`.
            loss = loss_fn(masks, probs)
            if net.losses:
                loss += tf.add_n(net.losses) / dist.num_replicas_in_sync
            scaled = opt.scale_loss(loss)
        if training:
            grads = tape.gradient(scaled, net.trainable_variables)
            opt.apply_gradients(zip(grads, net.trainable_variables))
        update_metrics(group, masks, probs, loss, dist.num_replicas_in_sync,
                       weighted=not training)

    @tf.function
    def train_step(iterator):
        dist.run(step, args=next(iterator) + (True,))

    @tf.function
    def val_step(iterator):
        dist.run(step, args=next(iterator) + (False,))

    sync_state = state_averager(dist, net)  # BatchNormalization statistics: see cluster.py

    writers = ({k: tf.summary.create_file_writer(os.path.join(run_dir, cb.LOG_DIR, k))
                for k in ("train", "validation")} if chief and a.tensorboard else {})
    train_iter, diverged = iter(train_ds), None
    for epoch in range(done, a.epochs):
        if a.verbose:
            log(f"Epoch {epoch + 1}/{a.epochs}")
        start = time.perf_counter()
        for metric in metrics[""] + metrics["val_"]:
            metric.reset_state()
        bar = keras.utils.Progbar(steps) if chief and a.verbose == 1 else None
        for i in range(steps):
            train_step(train_iter)
            if bar:
                bar.update(i + 1)
        if sync_state:
            sync_state()  # before validation, so every worker validates the same model
        val_iter = iter(val_ds)  # the same validation batches every epoch
        for _ in range(val_steps):
            val_step(val_iter)
        logs = {p + m.name: float(m.result()) for p in metrics for m in metrics[p]}
        bad = cb.first_nonfinite_weight(net.weights)
        if bad is not None:  # a broken model's metrics mean nothing (NaN, as in fit's history)
            logs = {name: math.nan for name in logs}
        if chief:
            history.append({"epoch": epoch, **logs})
            run_state.write_history(run_dir, history)
            run_state.write_scalars(writers, epoch, logs)
        if a.verbose:
            log(f"{steps} steps, {time.perf_counter() - start:.0f}s - "
                + " - ".join(f"{k}: {v:.4f}" for k, v in logs.items()))
        if bad is not None:
            diverged = (epoch + 1, bad)
            break  # no checkpoint: --resume continues from the last finite epoch
        if logs["val_loss"] < best.numpy():
            best.assign(logs["val_loss"])
            path = os.path.join(out_dir, cb.MODEL_FILE)
            atomic_write(path, lambda tmp: net.save(tmp))  # every worker saves: see docstring
        finished.assign(epoch + 1)
        manager.save(checkpoint_number=epoch + 1)
    # Every worker applied the same all-reduced updates; a differing fingerprint means a bug.
    fingerprint = weights_fingerprint(net)
    log(f"final weights sha256: {fingerprint}")
    in_sync = len(set(gather_values(dist, int(fingerprint[:12], 16)))) == 1
    if not in_sync:
        log("WARNING: the workers' final weights differ: they did not stay in sync")

    if chief:
        history = cb.read_history(run_dir)
        summary = runinfo.finish(summary, history, diverged_epoch=diverged and diverged[0],
                                 nonfinite_weight=diverged and diverged[1])
        summary["workers_in_sync"] = in_sync
        local_val = segdata.load_dataset(records, splits[1], image_size=a.image_size,
                                         batch_size=1, resize=a.resize)
        runinfo.write_figures(run_dir, history, local_val, log=log, manifest=manifest)
        runinfo.write_summary(run_dir, summary)
    if diverged:
        raise TrainingDiverged(diverged_message(diverged[0], policy, diverged[1]))
    if chief:
        runinfo.log_result(summary, log)
    return summary

