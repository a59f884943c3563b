"""The multi-worker training loop: `strategy.run` steps, checkpoints, validation and run.json.

`segmodel.distribute.multiworker.train` checks the arguments, sets up the cluster and the run
folder, then calls `run_loop` on every worker: `strategy.run` over
`distribute_datasets_from_function`, `tf.GradientTape` and the Keras optimizer's
`apply_gradients`, with the model, optimizer, loss and metrics of `segmodel.training.build`.
Each epoch: the training steps, BatchNormalization statistics averaged over the workers,
validation (every example once, see `segmodel.distribute.worker_input`), history and TensorBoard
scalars on the chief, the best model and a checkpoint on every worker (see multiworker's docstring
for who writes what).
"""

import math
import os
import time

import keras
import tensorflow as tf

from segdata.io.atomic import atomic_write
from segdata.records.labels import dataset_classes
from segmodel.distribute import run_state
from segmodel.distribute.cluster import gather_values, state_averager, weights_fingerprint
from segmodel.distribute.worker_input import padded_dataset, update_metrics
from segmodel.training import callbacks as cb
from segmodel.training import runinfo
from segmodel.training.build import compile_model, make_model, make_optimizer
from segmodel.training.loop import TrainingDiverged, diverged_message
from segmodel.training.metrics import make_loss, make_metrics


def run_loop(dist, records, run_dir, out_dir, chief, a, manifest, summary, steps, val_steps, log):
    """The loop of `segmodel.distribute.multiworker.train` (its TrainConfig `a`, image_size as
    (H, W), verbose an int); out_dir is RUN on the chief, scratch elsewhere; returns the run
    summary (finished on the chief)."""
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
    # The best value of the best-checkpoint metric so far, negated when higher is better (the
    # checkpoint keeps its old name, so runs started before the option still resume).
    best = tf.Variable(math.inf, dtype=tf.float64, trainable=False)
    best_metric = a.best_checkpoint_metric
    sign = 1.0 if cb.BEST_METRICS[best_metric] == "min" else -1.0
    # The inner optimizer, not a LossScaleOptimizer: the checkpoint then has the same layout under
    # every precision policy, so a run that diverged under mixed_float16 can resume in float32
    # (the loss scale starts again from its initial value and adapts within a few steps).
    checkpoint = tf.train.Checkpoint(model=net, optimizer=getattr(opt, "inner_optimizer", opt),
                                     finished_epochs=finished, best_val_loss=best)
    done = run_state.restore(dist, checkpoint, finished, os.path.join(run_dir, runinfo.CHECKPOINT_DIR),
                             a.resume)
    manager = tf.train.CheckpointManager(checkpoint, os.path.join(out_dir, runinfo.CHECKPOINT_DIR),
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
        if sign * logs[best_metric] < best.numpy():
            best.assign(sign * logs[best_metric])
            path = os.path.join(out_dir, cb.MODEL_FILE)
            atomic_write(path, lambda tmp: net.save(tmp))  # every worker saves: see multiworker
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
                                 nonfinite_weight=diverged and diverged[1], best_metric=best_metric)
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

