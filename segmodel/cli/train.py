"""Train a segmentation model on segkit records.

  python tools/train.py --records RECORDS --model chapter --image-size 96 --batch-size 32 \
      --epochs 20 --output-dir runs/chapter --seed 1

Defaults: adam at a constant 3e-4. The chapter's own recipe (adam at a constant 1e-3) is
  --optimizer adam --learning-rate 1e-3

Several machines: run the same command on every machine with --strategy multiworker; the cluster
comes from TF_CONFIG, or, when TF_CONFIG is unset and SLURM_JOB_ID is set, from Slurm
(SlurmClusterResolver: one task per worker, port 8888).

keras-hub models (a preset name, or a local folder written by save_to_preset):
  python tools/train.py ... --model segformer --preset segformer_b0_ade20k_512
  python tools/train.py ... --model deeplabv3plus --preset deeplab_v3_plus_resnet50_pascalvoc
  python tools/train.py ... --model unet --backbone-preset resnet_50_imagenet
default to AdamW, 1 warm-up epoch then cosine decay; --freeze-backbone-epochs N and
--backbone-lr-scale F set the fine-tuning recipe.
"""

import argparse
import os
import re
import sys

import tensorflow as tf

from segmodel import cluster, distribute, finetune, hub_models, precision, training
from segmodel.models import MODELS


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
    return value


def _non_negative_int(text):
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _positive_float(text):
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def build_parser():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--records", required=True, help="folder written by tools/build_records.py")
    p.add_argument("--output-dir", required=True, help="run folder RUN (model.keras, logs, ...)")
    p.add_argument("--model", choices=sorted(set(MODELS) | set(hub_models.FAMILIES)),
                   default="chapter")
    p.add_argument("--preset", help="keras-hub segmenter preset or local preset folder "
                   "(deeplabv3plus, segformer)")
    p.add_argument("--backbone-preset", help="keras-hub encoder preset or folder (unet, "
                   "deeplabv3plus); without it --model unet is segkit's own U-Net")
    p.add_argument("--freeze-backbone-epochs", type=_non_negative_int, default=0,
                   help="keep what the preset pretrained (weights and BatchNorm statistics) "
                        "frozen for the first N epochs: the whole backbone of a --preset, the "
                        "encoder of a --backbone-preset (default 0)")
    p.add_argument("--backbone-lr-scale", type=_positive_float, default=1.0,
                   help="learning rate of those pretrained layers = this x --learning-rate "
                        "(default 1: same)")
    p.add_argument("--image-size", type=_positive_int, default=200,
                   help="square training size in pixels, a multiple of 8 (default 200)")
    p.add_argument("--batch-size", type=_positive_int, default=64,
                   help="global batch size, split over replicas (default 64)")
    p.add_argument("--epochs", type=_positive_int, default=50)
    p.add_argument("--seed", type=int, default=None, help="seed for weights and shuffling")
    p.add_argument("--precision", choices=precision.CHOICES, default="auto",
                   help="auto: mixed_float16 on GPUs with compute capability >= 7.0, "
                        "mixed_bfloat16 on CPUs with native bf16, else float32")
    p.add_argument("--strategy", choices=distribute.CHOICES + ("multiworker",), default="auto",
                   help="auto: MirroredStrategy over several GPUs, else one device; "
                        "multiworker: MultiWorkerMirroredStrategy, cluster from TF_CONFIG or Slurm")
    p.add_argument("--cpu-replicas", type=_positive_int, default=None,
                   help="split the CPU into N logical devices and mirror over them (testing)")
    p.add_argument("--augment", action="store_true", help="random flips etc. on training data")
    p.add_argument("--cache", action="store_true", help="cache decoded images in memory")
    p.add_argument("--resize", choices=("stretch", "pad"), default="stretch",
                   help="stretch to the square (the chapter's) or pad, keeping the aspect ratio; "
                        "padded pixels are ignored by the loss and the IoU metrics")
    p.add_argument("--optimizer", choices=training.OPTIMIZERS, default=None,
                   help=f"default {training.DEFAULT_OPTIMIZER}; {finetune.OPTIMIZER} for keras-hub")
    p.add_argument("--learning-rate", type=_positive_float, default=training.DEFAULT_LEARNING_RATE,
                   help=f"peak learning rate, not rescaled by replicas "
                        f"(default {training.DEFAULT_LEARNING_RATE})")
    p.add_argument("--schedule", choices=training.SCHEDULES, default=None,
                   help="constant (default), or linear warm-up then cosine decay to 0 "
                        "(default for keras-hub models)")
    p.add_argument("--warmup-epochs", type=_non_negative_int, default=None,
                   help=f"default {training.DEFAULT_WARMUP_EPOCHS}, {finetune.WARMUP_EPOCHS} "
                        f"for keras-hub models")
    p.add_argument("--data-service", default=None, metavar="ADDRESS",
                   help="read training batches from a tf.data service dispatcher, e.g. "
                        "grpc://host:5050 (tools/data_service.py starts one)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --output-dir from its last finished epoch")
    p.add_argument("--overwrite", action="store_true",
                   help="delete the run files already in --output-dir and start again")
    p.add_argument("--no-tensorboard", action="store_true", help="skip TensorBoard logs")
    p.add_argument("--verbose", type=int, choices=(0, 1, 2), default=None,
                   help="Keras fit verbosity (default: progress bar on a terminal); with "
                        "--strategy multiworker: 0 no epoch lines, 1 progress bar on the chief, "
                        "2 (default) one line per epoch")
    return p


def _recipe(args):
    """(model_options, optimizer, schedule, warm-up epochs) from the flags."""
    return training.recipe(args.model, preset=args.preset, backbone_preset=args.backbone_preset,
                           optimizer=args.optimizer, schedule=args.schedule,
                           warmup_epochs=args.warmup_epochs)


def _cluster_resolver():
    resolver, note = cluster.cluster_resolver(os.environ)
    if note:
        print(f"note: {note}", file=sys.stderr)
    return resolver


def _train_multiworker(args, model_options, optimizer, schedule, warmup_epochs):
    from segmodel import multiworker

    if args.cpu_replicas is not None:
        raise ValueError("--cpu-replicas cannot be combined with --strategy multiworker")
    if args.data_service is not None:
        raise ValueError("--data-service is not supported with --strategy multiworker yet: "
                         "train on one machine with the service, or without it on several")
    if args.freeze_backbone_epochs or args.backbone_lr_scale != 1:
        raise ValueError("--freeze-backbone-epochs and --backbone-lr-scale are not supported "
                         "with --strategy multiworker yet")
    multiworker.train(
        args.records, args.output_dir, cluster_resolver=_cluster_resolver(), model=args.model,
        image_size=args.image_size, batch_size=args.batch_size, epochs=args.epochs,
        seed=args.seed, precision=args.precision, augment=args.augment, cache=args.cache,
        resize=args.resize, optimizer=optimizer, learning_rate=args.learning_rate,
        schedule=schedule, warmup_epochs=warmup_epochs, model_options=model_options or None,
        resume=args.resume,
        overwrite=args.overwrite, tensorboard=not args.no_tensorboard,
        verbose="auto" if args.verbose is None else args.verbose)


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        model_options, optimizer, schedule, warmup_epochs = _recipe(args)
        if args.strategy == "multiworker":
            _train_multiworker(args, model_options, optimizer, schedule, warmup_epochs)
            return 0
        training.train(
            args.records, args.output_dir, model=args.model, image_size=args.image_size,
            batch_size=args.batch_size, epochs=args.epochs, seed=args.seed,
            precision=args.precision, strategy=args.strategy, cpu_replicas=args.cpu_replicas,
            augment=args.augment, cache=args.cache, resize=args.resize, optimizer=optimizer,
            learning_rate=args.learning_rate, schedule=schedule, warmup_epochs=warmup_epochs,
            model_options=model_options or None,  # None, as runs started before keras-hub
            freeze_backbone_epochs=args.freeze_backbone_epochs,
            backbone_lr_scale=args.backbone_lr_scale, resume=args.resume, overwrite=args.overwrite,
            tensorboard=not args.no_tensorboard,
            verbose="auto" if args.verbose is None else args.verbose,
            data_service=args.data_service,
        )
    except training.TrainingDiverged as err:
        print(f"error: {err}", file=sys.stderr)
        return 3
    except (ValueError, FileExistsError, FileNotFoundError, ConnectionError,
            distribute.DeviceConfigError, cluster.ClusterError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except tf.errors.UnavailableError as err:
        # Multi-worker: a peer crashed or is unreachable; TensorFlow aborts the collectives.
        lost = sorted(set(re.findall(r"/job:\w+/replica:\d+/task:\d+", err.message)))
        print(f"error: the cluster lost a worker ({', '.join(lost) or 'unreachable'}): see its "
              f"log, then restart every worker with the same command plus --resume",
              file=sys.stderr)
        return 4
    except tf.errors.InvalidArgumentError as err:
        # The input pipeline reports corrupt shards/records as "segkit: <file>: <what>"; show
        # that line, not the TensorFlow stack. Anything else is a real bug: re-raise it.
        lines = [line for line in err.message.splitlines() if "segkit:" in line]
        if not lines:
            raise
        print(f"error: {lines[0][lines[0].index('segkit:'):].rstrip(']')}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
