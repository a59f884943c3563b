"""segmodel: segmentation models, IoU metrics, training, SavedModel export and SAM prompts.

Public names are imported lazily (PEP 562): `import segmodel` stays cheap, and a user who only
wants `segmodel.sam` does not build the training stack.
"""

import importlib

__version__ = "0.1.0"

# name -> module that defines it. Add your public names here (one line each).
_LAZY = {
    "build_model": "segmodel.models.builtin",
    "build_hub_model": "segmodel.models.hub",
    "train": "segmodel.training.loop",
    "TrainingDiverged": "segmodel.training.loop",
    "make_loss": "segmodel.training.metrics",
    "make_metrics": "segmodel.training.metrics",
    "make_optimizer": "segmodel.training.build",
    "make_strategy": "segmodel.distribute.strategy",
    "set_precision": "segmodel.training.precision",
    "export_saved_model": "segmodel.serving.export",
    "predict_images": "segmodel.serving.predict",
    "SamPredictor": "segmodel.sam.prompting.predictor",
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
