"""segdata: Oxford-IIIT Pet style folders -> sharded TFRecords -> tf.data pipelines.

Public names are imported lazily (PEP 562) so that light modules, such as the per-sample
converter that runs in worker processes, do not pay for importing TensorFlow.
"""

import importlib

from segdata.io.moved import alias_old_paths

__version__ = "0.1.0"

# name -> module that defines it. Add your public names here (one line each).
_LAZY = {
    "make_sample_data": "segdata.synthetic.pets",
    "build_records": "segdata.records.convert",
    "build_records_beam": "segdata.records.beam_convert",
    "verify_records": "segdata.records.verify",
    "read_manifest": "segdata.records.manifest",
    "ManifestError": "segdata.records.manifest",
    "download_pets": "segdata.io.download",
    "load_dataset": "segdata.input.pipeline",
    "show_sample": "segdata.plots",
    "IGNORE_LABEL": "segdata.records.labels",
    "NUM_CLASSES": "segdata.records.labels",
    "LABEL_NAMES": "segdata.records.labels",
    "read_example": "segdata.input.pipeline",
    "RecordReadError": "segdata.input.pipeline",
    "plot_image_and_mask": "segdata.plots",
    "write_tfds_metadata": "segdata.records.tfds_meta",
    "LabelledFolder": "segdata.formats.pets.labelled",
    "trimap_from_mask": "segdata.formats.pets.labelled",
}

# The flat layout's module paths (before the stage subpackages) -> where each module lives
# now; `import segdata.<old>` still works (segdata.io.moved).
_MOVED = {
    "segdata.atomic": "segdata.io.atomic",
    "segdata.fsio": "segdata.io.fsio",
    "segdata.download": "segdata.io.download",
    "segdata.layout": "segdata.formats.pets.layout",
    "segdata.samples": "segdata.formats.pets.samples",
    "segdata.labelled": "segdata.formats.pets.labelled",
    "segdata.labels": "segdata.records.labels",
    "segdata.splits": "segdata.records.splits",
    "segdata.features": "segdata.records.features",
    "segdata.convert": "segdata.records.convert",
    "segdata.beam_convert": "segdata.records.beam_convert",
    "segdata.build_plan": "segdata.records.build_plan",
    "segdata.sharding": "segdata.records.sharding",
    "segdata.manifest": "segdata.records.manifest",
    "segdata.verify": "segdata.records.verify",
    "segdata.tfds_meta": "segdata.records.tfds_meta",
    "segdata.pipeline": "segdata.input.pipeline",
    "segdata.shard_reader": "segdata.input.shard_reader",
    "segdata.transforms": "segdata.input.transforms",
    "segdata.lean_functions": "segdata.input.lean_functions",
    "segdata.service": "segdata.input.service",
    "segdata.sample_data": "segdata.synthetic.pets",
    "segdata.sample_quirks": "segdata.synthetic.pets_quirks",
    "segdata.figures": "segdata.plots",
}
alias_old_paths(_MOVED)

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'segdata' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(list(globals()) + __all__)
