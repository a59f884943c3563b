"""The `segkit` command: one subcommand per stage, each a module of this package.

    segkit make-sample-data --output-dir data/sample --num-images 200
    segkit build-records --data-dir data/sample --output-dir records
    segkit train --records records --output-dir runs/pets --epochs 5
    segkit SUBCOMMAND --help

`tools/NAME.py` are two-line shims over the same functions (`python tools/train.py ...` is
`segkit train ...`). Each module's `main(argv) -> exit code` parses its own flags and maps the
errors it expects to its own codes; `run` is the one place that turns every other segkit error
(bad arguments or input: ValueError, FileNotFoundError, FileExistsError, ConnectionError) into
`segkit SUBCOMMAND: error: ...` and exit code 2 (so is a corrupt shard or record that the
input pipeline reports as "segkit: <file>: <what>"), and Ctrl+C into 130, never a traceback.
"""

import importlib
import sys

# subcommand -> (module in this package, one-line description). Add new tools here.
COMMANDS = {
    "download-pets": ("download_pets", "download, verify and extract the Oxford-IIIT Pet archives"),
    "make-sample-data": ("make_sample_data", "generate a folder of synthetic photos and masks"),
    "build-records": ("build_records", "convert a dataset folder to sharded TFRecords, or verify them"),
    "data-service": ("data_service", "run a tf.data service dispatcher or worker"),
    "train": ("train", "train a segmentation model on segkit records"),
    "evaluate": ("evaluate", "score a model on a split: IoU per class, boundary F, worst images"),
    "export": ("export", "export a trained model: SavedModel, LiteRT (.tflite, int8) or ONNX"),
    "predict": ("predict", "segment image files with an exported model (SavedModel, .tflite, .onnx)"),
    "sam-predict": ("sam_predict", "segment an image with Segment Anything from points, boxes or text"),
    "sam-label": ("sam_label", "label a folder of images with SAM from a prompt file or text"),
    "sam-automask": ("sam_automask", "segment everything in a folder of images with SAM, as amg.py"),
    "label-app": ("label_app", "label a folder of photos with SAM in the browser"),
    "rank": ("rank", "order photos by a model's uncertainty: what to label next"),
    "export-sam": ("export_sam", "export Segment Anything as a SavedModel plain TensorFlow serves"),
    "demo": ("demo", "the main job end to end: sample data, records, training, export, serving, SAM"),
}

# Errors that mean "bad arguments or input": their messages say what to do.
USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError,
               ConnectionError)


def pipeline_error(err):
    """The "segkit: <file>: <what>" line of a tf.errors.InvalidArgumentError raised by the input
    pipeline for a corrupt shard or record, or None when `err` is not one of those (a bug:
    re-raise it). Checked by name, so that this module never imports TensorFlow."""
    if type(err).__name__ != "InvalidArgumentError":
        return None
    lines = [line for line in str(getattr(err, "message", err)).splitlines() if "segkit:" in line]
    return lines[0][lines[0].index("segkit:"):].rstrip("]") if lines else None


def _usage():
    width = max(map(len, COMMANDS))
    lines = ["usage: segkit SUBCOMMAND [--help] [ARGS ...]", "",
             "segkit: segmentation datasets -> sharded TFRecords -> tf.data -> Keras training -> "
             "SavedModel, and Segment Anything.", "", "subcommands:"]
    lines += [f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items()]
    lines += ["", "`segkit SUBCOMMAND --help` shows a subcommand's flags."]
    return "\n".join(lines)


def load(command):
    """The module of `command` (a key of COMMANDS); KeyError for an unknown one."""
    return importlib.import_module(f"{__name__}.{COMMANDS[command][0]}")


def run(command, argv):
    """Run one subcommand with `argv` (its flags) -> exit code; see the module docstring."""
    module = load(command)
    argv0, sys.argv[0] = sys.argv[0], f"segkit {command}"  # argparse's prog in usage lines
    try:
        return module.main(list(argv))
    except KeyboardInterrupt:
        print(f"segkit {command}: interrupted", file=sys.stderr)
        return 130
    except USER_ERRORS as err:
        print(f"segkit {command}: error: {err}", file=sys.stderr)
        return 2
    except Exception as err:
        # A corrupt shard or record found by the input pipeline: its line, not TF's stack.
        line = pipeline_error(err)
        if line is None:
            raise
        print(f"segkit {command}: error: {line}", file=sys.stderr)
        return 2
    finally:
        sys.argv[0] = argv0


def main(argv=None):
    """The `segkit` console entry point -> exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0 if argv else 2
    if argv[0] in ("-V", "--version"):
        from segmodel import __version__

        print(f"segkit {__version__}")
        return 0
    if argv[0] not in COMMANDS:
        print(f"segkit: unknown subcommand {argv[0]!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    return run(argv[0], argv[1:])
