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

from segmodel.distribute import cluster
from segmodel.distribute import strategy as distribute
from segmodel.training import config as train_config
from segmodel.training import loop as training


def build_parser():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--records", help="folder written by segkit build-records (required)")
    p.add_argument("--output-dir", help="run folder RUN (model.keras, logs, ...) (required)")
    p.add_argument("--preset", help="keras-hub segmenter preset or local preset folder "
                   "(deeplabv3plus, segformer)")
    p.add_argument("--backbone-preset", help="keras-hub encoder preset or folder (unet, "
                   "deeplabv3plus); without it --model unet is segkit's own U-Net")
    p.add_argument("--list-recipes", action="store_true",
                   help="print the named recipes (--recipe) with one line each, and exit")
    p.add_argument("--init-from", metavar="RUN/model.keras",
                   help="start from an earlier run's weights (same --model and classes), e.g. "
                        "to continue training on a grown labelled set")
    return train_config.add_arguments(p)  # one flag per TrainConfig field


def given_options(argv):
    """The option names (argparse dests) typed on the command line `argv`."""
    parser = build_parser()
    for action in parser._actions:  # argparse's own list; no public way to read "was it given"
        action.default = argparse.SUPPRESS
    return set(vars(parser.parse_args(argv)))


def _cluster_resolver():
    resolver, note = cluster.cluster_resolver(os.environ)
    if note:
        print(f"note: {note}", file=sys.stderr)
    return resolver


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list_recipes:
        from segmodel.training import recipes

        print(recipes.describe())
        return 0
    if not args.records or not args.output_dir:
        parser.error("--records and --output-dir are required")
    try:
        config = train_config.from_args(args)
        if args.recipe:
            from segmodel.training import recipes

            config = recipes.apply_recipe(args.recipe, args.records, config,
                                          given_options(sys.argv[1:] if argv is None else argv))
        if config.verbose == "auto" and config.strategy != "multiworker":
            # Keras's "auto" draws a progress bar even into a log file (a line of escape codes
            # per step); written to a file or a pipe, one line an epoch says the same.
            config = config.replace(verbose=1 if sys.stdout.isatty() else 2)
        if config.strategy == "multiworker" and args.init_from:
            raise ValueError("--init-from is not supported with --strategy multiworker yet")
        if config.strategy == "multiworker":
            from segmodel.distribute import multiworker

            multiworker.train(args.records, args.output_dir, config,
                              cluster_resolver=_cluster_resolver())
        else:
            training.train(args.records, args.output_dir, config, init_from=args.init_from)
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
