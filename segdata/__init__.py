"""segdata: Oxford-IIIT Pet style folders -> sharded TFRecords -> tf.data pipelines.

Public names are imported lazily (PEP 562) so that light modules, such as the per-sample
converter that runs in worker processes, do not pay for importing TensorFlow.
"""

import importlib

__version__ = "0.1.0"

# name -> module that defines it. Add your public names here (one line each).
_LAZY = {
    "make_sample_data": "segdata.sample_data",
    "build_records": "segdata.convert",
    "verify_records": "segdata.verify",
    "read_manifest": "segdata.manifest",
    "ManifestError": "segdata.manifest",
    "download_pets": "segdata.download",
    "load_dataset": "segdata.pipeline",
    "show_sample": "segdata.figures",
    "IGNORE_LABEL": "segdata.labels",
    "NUM_CLASSES": "segdata.labels",
    "LABEL_NAMES": "segdata.labels",
    "read_example": "segdata.pipeline",
    "RecordReadError": "segdata.pipeline",
    "plot_image_and_mask": "segdata.figures",
    "write_tfds_metadata": "segdata.tfds_meta",
    "LabelledFolder": "segdata.labelled",
    "trimap_from_mask": "segdata.labelled",
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'segdata' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(list(globals()) + __all__)
