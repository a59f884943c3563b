"""Training a segmentation model on segkit records: `train`, which composes the pieces.

The pieces (`make_strategy`, `set_precision`, and in `segmodel.training.build` `make_model`,
`make_optimizer`, `compile_model` with `make_loss` / `make_metrics`, `make_datasets`) are separate
functions so that a custom `strategy.run` loop - the only way to train on several machines with
Keras 3 (keras-team/keras #20585) - builds exactly the same model, loss, metrics and optimizer as
`fit` does here.

Call order matters: strategy first (logical CPU devices must exist before TensorFlow initialises),
then the precision policy, then everything else inside `strategy.scope()`.
"""

import os

import keras

from segdata.records import labels as segdata_labels
from segmodel.distribute.strategy import describe, make_strategy
from segmodel.training import callbacks as cb
from segmodel.training import class_weights as class_weights_lib
from segmodel.training import finetune, run_folder, runinfo
from segmodel.training.build import (
    check_model,
    compile_model,
    make_datasets,
    make_model,
    make_optimizer,
    pick_splits,
)
from segmodel.training.config import make_config
from segmodel.training.precision import set_precision


class TrainingDiverged(RuntimeError):
    """The loss or a weight became NaN/inf; the message names the epoch, the precision policy and,
    when a weight was the evidence, the first non-finite weight."""


def diverged_message(epoch, policy, weight=None):
    """The TrainingDiverged text shared by every training loop."""
    what = (f"the weights became non-finite (first: {weight})" if weight
            else "the loss became NaN")
    hint = ("a lower --learning-rate" if policy == "float32"
            else "--precision float32 or a lower --learning-rate")
    return (f"training stopped: {what} in epoch {epoch} under precision policy {policy}; try "
            f"{hint} (--resume continues from the last epoch before it)")




def train(records, output_dir, config=None, *, extra_callbacks=(), log=print, init_from=None,
          **options):
    """Train on RUN = output_dir; returns the run summary also written to RUN/run.json.

    Args:
      records: a record set folder (manifest.json + shards).
      output_dir: the run folder RUN.
      config: a `segmodel.training.config.TrainConfig` (None: its defaults).
      extra_callbacks: appended to the run's Keras callbacks.
      log: receives the human-readable progress lines.
      init_from: optional earlier run's model file (RUN/model.keras) whose weights the new
        model starts from (same architecture and classes; segmodel.training.init_from).
      **options: TrainConfig fields that override `config` (e.g. `epochs=5`), so
        `train(records, out, model="unet", epochs=5)` works without building a config.
        keras-hub models (segmodel.models.hub) take model_options preset / backbone_preset,
        and the fine-tuning options freeze_backbone_epochs and backbone_lr_scale
        (segmodel.training.finetune).

    Raises:
      TrainingDiverged: the loss or a weight became NaN/inf (run.json is still written, status
        "diverged"; RUN/backup is rolled back to the last finite epoch).
      ValueError / FileExistsError: bad arguments, records or run folder.
      TypeError: an option TrainConfig does not have.
    """
    import segdata

    c = make_config(config, **options)
    if c.strategy == "multiworker":
        raise ValueError('strategy "multiworker" trains with '
                         "segmodel.distribute.multiworker.train (segkit train --strategy "
                         "multiworker)")
    # run.json's "options": the arguments of the run (the data service address is not one).
    options = {"records": records, "output_dir": output_dir,
               **{k: v for k, v in c.to_dict().items() if k != "data_service"}}
    if init_from is not None:
        if c.resume:
            raise ValueError("--init-from starts a new run from earlier weights; --resume "
                             "continues this run: pass one of them")
        options["init_from"] = str(init_from)
    # Cheap argument checks first: before TensorFlow starts and long before the first epoch.
    hub, image_size = check_model(c.model, c.image_size, c.model_options)
    if not hub and (c.freeze_backbone_epochs or c.backbone_lr_scale != 1):
        raise ValueError("--freeze-backbone-epochs and --backbone-lr-scale apply to keras-hub "
                         "models only (--preset / --backbone-preset)")
    options["image_size"] = list(image_size)  # 96 and (96, 96) are the same run
    crop_size = None
    if c.crop_size is not None:
        crop_size = check_model(c.model, c.crop_size, c.model_options)[1]
        options["crop_size"] = list(crop_size)
        if hub and crop_size != image_size:
            raise ValueError("keras-hub models train at one size: give --crop-size equal to "
                             "--image-size (scale-and-crop still applies) or use segkit's own "
                             "--model unet / chapter")
    if int(c.epochs) < 1 or int(c.batch_size) < 1:
        raise ValueError(f"epochs and batch size must be >= 1, got {c.epochs} and {c.batch_size}")
    dist = make_strategy(c.strategy, cpu_replicas=c.cpu_replicas)
    policy = set_precision(c.precision)
    replicas = dist.num_replicas_in_sync
    log(f"strategy: {describe(dist)}")
    log(f"replicas: {replicas}")
    log(f"precision policy: {policy}")

    manifest = segdata.read_manifest(records)
    train_split, val_split = pick_splits(manifest)
    num_train = manifest["splits"][train_split]["num_examples"]
    if c.batch_size < replicas or (replicas > 1 and num_train < c.batch_size):
        raise ValueError(f"batch size {c.batch_size} with {replicas} replicas and {num_train} "
                         f"training images leaves a replica without data; raise --batch-size")
    if init_from is not None:  # checked before the run folder, datasets and model
        from segmodel.training import init_from as initial

        earlier = initial.load_checked(init_from, manifest)
    run_folder.prepare_run_dir(output_dir, resume=c.resume, overwrite=c.overwrite)
    if c.resume and os.path.isdir(os.path.join(output_dir, runinfo.CHECKPOINT_DIR)) and not \
            os.path.isdir(os.path.join(output_dir, cb.BACKUP_DIR)):
        # Its state is in checkpoints/, which fit's BackupAndRestore cannot read: resuming here
        # would silently restart from epoch 1 and drop the run's history.
        raise ValueError(f"{output_dir} was trained with --strategy multiworker; resume it with "
                         f"--strategy multiworker (one worker is fine), or --overwrite")
    runinfo.check_resume_options(output_dir, options)
    done = cb.finished_epochs(output_dir) if c.resume else 0
    history = cb.trim_history(output_dir, done) if c.resume else []
    if c.resume:
        log(f"resuming after {done} finished epoch(s)" if done else "nothing to resume: "
            "starting from epoch 1")
        if done >= c.epochs:
            log(f"the run already finished {done} epoch(s); raise --epochs to train further")
    if c.seed is not None:
        keras.utils.set_random_seed(c.seed)

    weights = (None if c.class_weights is None else
               class_weights_lib.class_weights(manifest, c.class_weights))
    train_ds, val_ds = make_datasets(records, image_size, c.batch_size, val_split=val_split,
                                     seed=c.seed, augment=c.augment, cache=c.cache, resize=c.resize,
                                     replicas=replicas, data_service=c.data_service,
                                     crop_size=crop_size, scale_range=c.scale_range,
                                     color_jitter=c.color_jitter, class_weights=weights)
    steps = num_train // c.batch_size if replicas > 1 else -(-num_train // c.batch_size)
    # Crops smaller than the base size: a model for any size (trained on crops, validated and
    # exported at image_size); segkit's own models only, keras-hub ones take image_size.
    model_size = (None, None) if crop_size not in (None, image_size) and not hub else image_size
    with dist.scope():
        net = make_model(c.model, model_size, manifest.get("num_classes", 3), c.model_options)
        # Under a time budget the budget callback drives warm-up and cosine decay itself.
        timed = c.max_minutes is not None and c.schedule == "cosine"
        opt = make_optimizer(c.optimizer, c.learning_rate,
                             schedule="constant" if timed else c.schedule,
                             total_steps=steps * c.epochs, warmup_steps=steps * c.warmup_epochs)
        # A segmenter preset pretrained the whole backbone; an encoder preset only its encoder.
        whole = hub and bool((c.model_options or {}).get("preset"))
        if hub:
            opt = finetune.scale_backbone_rate(opt, net, c.backbone_lr_scale, whole)
        compile_model(net, opt, manifest.get("num_classes", 3),
                      segdata_labels.dataset_classes(manifest)[1])
        if init_from is not None:
            initial.copy_weights(net, earlier, init_from)
            log(f"initial weights: {init_from}")
        if hub:
            finetune.prepare_optimizer(net)
            extra_callbacks = [*finetune.callbacks(net, c.freeze_backbone_epochs, whole),
                               *extra_callbacks]
    best = cb.best_row(history, c.best_checkpoint_metric)
    callbacks, monitor = cb.make_callbacks(
        output_dir, resume=c.resume, best_metric=c.best_checkpoint_metric,
        best_value=best and best[c.best_checkpoint_metric], tensorboard=c.tensorboard)
    summary = runinfo.start(options, policy=policy, strategy=describe(dist), replicas=replicas,
                            splits=(train_split, val_split), manifest=manifest)
    if weights is not None:
        summary["class_weights"] = dict(zip(segdata_labels.dataset_classes(manifest)[0],
                                            weights))
        log("class weights: " + ", ".join(f"{n} {w:.2f}" for n, w in
                                          summary["class_weights"].items()))
    if c.max_minutes is not None:
        callbacks.append(cb.TimeBudget(
            c.max_minutes, peak_lr=c.learning_rate if timed else None,
            total_steps=steps * c.epochs, warmup_steps=steps * c.warmup_epochs, log=log))
    if os.path.exists(os.path.join(output_dir, runinfo.SUMMARY_FILE)):
        os.remove(os.path.join(output_dir, runinfo.SUMMARY_FILE))  # a resumed run is unfinished
    net.fit(train_ds, validation_data=val_ds, epochs=c.epochs, shuffle=False,
            callbacks=callbacks + list(extra_callbacks), verbose=c.verbose)

    if monitor.diverged_epoch is not None:
        kept = cb.discard_diverged_backup(output_dir, monitor.diverged_epoch)
        cb.trim_history(output_dir, kept + 1)  # keep the NaN epoch's row as evidence
    if model_size != image_size and monitor.diverged_epoch is None:
        run_folder.fix_input_size(output_dir, lambda: make_model(
            c.model, image_size, manifest.get("num_classes", 3), c.model_options))
    history = cb.read_history(output_dir)
    summary = runinfo.finish(summary, history, diverged_epoch=monitor.diverged_epoch,
                             nonfinite_weight=monitor.nonfinite_weight,
                             best_metric=c.best_checkpoint_metric)
    if weights is not None:
        val_ds = val_ds.map(lambda images, masks, _: (images, masks))
    runinfo.write_figures(output_dir, history, val_ds, log=log, manifest=manifest)
    runinfo.write_summary(output_dir, summary)
    if monitor.diverged_epoch is not None:
        raise TrainingDiverged(diverged_message(monitor.diverged_epoch, policy,
                                                monitor.nonfinite_weight))
    runinfo.log_result(summary, log)
    return summary
