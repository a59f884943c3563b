"""segmodel: segmentation models, IoU metrics, training, SavedModel export and SAM prompts.

Public names are imported lazily (PEP 562): `import segmodel` stays cheap, and a user who only
wants `segmodel.sam` does not build the training stack.
"""

import importlib

__version__ = "0.1.0"

# name -> module that defines it. Add your public names here (one line each).
_LAZY = {
    "build_model": "segmodel.models",
    "build_hub_model": "segmodel.hub_models",
    "train": "segmodel.training",
    "TrainingDiverged": "segmodel.training",
    "make_loss": "segmodel.metrics",
    "make_metrics": "segmodel.metrics",
    "make_optimizer": "segmodel.training",
    "make_strategy": "segmodel.distribute",
    "set_precision": "segmodel.precision",
    "export_saved_model": "segmodel.export",
    "predict_images": "segmodel.predict",
    "SamPredictor": "segmodel.sam.predictor",
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'segmodel' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(list(globals()) + __all__)
