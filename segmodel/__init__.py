"""segmodel: segmentation models, IoU metrics, training, SavedModel export and SAM prompts.

Public names are imported lazily (PEP 562): `import segmodel` stays cheap, and a user who only
wants `segmodel.sam` does not build the training stack.
"""

import importlib

from segdata.io.moved import alias_old_paths

__version__ = "0.1.0"

# name -> module that defines it. Add your public names here (one line each).
_LAZY = {
    "build_model": "segmodel.models.builtin",
    "build_hub_model": "segmodel.models.hub",
    "train": "segmodel.training.loop",
    "TrainingDiverged": "segmodel.training.loop",
    "make_loss": "segmodel.training.metrics",
    "make_metrics": "segmodel.training.metrics",
    "make_optimizer": "segmodel.training.loop",
    "make_strategy": "segmodel.distribute.strategy",
    "set_precision": "segmodel.training.precision",
    "export_saved_model": "segmodel.serving.export",
    "predict_images": "segmodel.serving.predict",
    "SamPredictor": "segmodel.sam.prompting.predictor",
}

# The flat layout's module paths (before the stage subpackages) -> where each module lives
# now; `import segmodel.<old>` still works (segdata.io.moved).
_MOVED = {
    "segmodel.hub_models": "segmodel.models.hub",
    "segmodel.presets": "segmodel.models.presets",
    "segmodel.train_config": "segmodel.training.config",
    "segmodel.callbacks": "segmodel.training.callbacks",
    "segmodel.finetune": "segmodel.training.finetune",
    "segmodel.precision": "segmodel.training.precision",
    "segmodel.runinfo": "segmodel.training.runinfo",
    "segmodel.figures": "segmodel.training.curves",
    "segmodel.metrics": "segmodel.training.metrics",
    "segmodel.cluster": "segmodel.distribute.cluster",
    "segmodel.multiworker": "segmodel.distribute.multiworker",
    "segmodel.worker_input": "segmodel.distribute.worker_input",
    "segmodel.evaluate": "segmodel.evaluation.evaluate",
    "segmodel.eval_figures": "segmodel.evaluation.figures",
    "segmodel.boundary": "segmodel.evaluation.boundary",
    "segmodel.export": "segmodel.serving.export",
    "segmodel.predict": "segmodel.serving.predict",
    "segmodel.sam.predictor": "segmodel.sam.prompting.predictor",
    "segmodel.sam.prompts": "segmodel.sam.prompting.prompts",
    "segmodel.sam.transforms": "segmodel.sam.prompting.geometry",
    "segmodel.sam.shared_decoder": "segmodel.sam.prompting.shared_decoder",
    "segmodel.sam.results": "segmodel.sam.prompting.results",
    "segmodel.sam.files": "segmodel.sam.prompting.files",
    "segmodel.sam.visualize": "segmodel.sam.prompting.visualize",
    "segmodel.sam.export": "segmodel.sam.servable",
    "segmodel.sam.loading": "segmodel.sam.models.loading",
    "segmodel.sam.architectures": "segmodel.sam.models.architectures",
    "segmodel.sam.sam3_architectures": "segmodel.sam.models.sam3_architectures",
    "segmodel.sam.generator": "segmodel.sam.automatic.generator",
    "segmodel.sam.amg": "segmodel.sam.automatic.amg",
    "segmodel.sam.label_folder": "segmodel.sam.labelling.folder",
    "segmodel.sam.label_server": "segmodel.sam.label_app.server",
    "segmodel.sam.label_session": "segmodel.sam.label_app.session",
    "segmodel.sam.embedding_cache": "segmodel.sam.label_app.embedding_cache",
    "segmodel.sam.encoder_process": "segmodel.sam.label_app.encoder_process",
    "segmodel.sam.text": "segmodel.sam.sam3.segmenter",
    "segmodel.sam.text_geometry": "segmodel.sam.sam3.converter_geometry",
    "segmodel.sam.text_results": "segmodel.sam.sam3.text_results",
    "segmodel.sam.text_labelling": "segmodel.sam.sam3.text_labelling",
}
alias_old_paths(_MOVED)

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'segmodel' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(list(globals()) + __all__)
