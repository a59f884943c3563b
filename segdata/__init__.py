"""segdata: segmentation dataset folders -> sharded TFRecords -> tf.data pipelines.

Reads VOC, COCO, Cityscapes, ADE20K, CamVid, class-mask folders, the exports of CVAT, Datumaro
and Label Studio, and Oxford-IIIT Pet (`segdata.formats`, `--format auto` recognises the
layout); `build_records` writes shards and a manifest naming the dataset's classes, and
`load_dataset` streams (image, train-id mask) batches from them.

Public names are imported lazily (PEP 562) so that light modules, such as the per-sample
converter that runs in worker processes, do not pay for importing TensorFlow.
"""

import importlib

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
    "read_example": "segdata.input.shard_reader",
    "RecordReadError": "segdata.input.shard_reader",
    "plot_image_and_mask": "segdata.plots",
    "write_tfds_metadata": "segdata.records.tfds_meta",
    "LabelledFolder": "segdata.formats.pets.labelled",
    "trimap_from_mask": "segdata.formats.pets.labelled",
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
