"""Segment Anything (keras-hub SAM) with point and box prompts in image pixels.

    from segmodel.sam import SamPredictor, save_overlay
    predictor = SamPredictor.from_preset("sam_base_sa1b")  # or a local preset folder
    image = load_image("photo.jpg")                        # uint8 [H, W, 3]
    predictor.set_image(image)                             # runs the image encoder once
    masks, scores, _ = predictor.predict(point_coords=[[320, 240]], point_labels=[1])
    save_overlay("overlay.png", image, masks, scores, [[320, 240]], [1])

Subpackages: `prompting` (SamPredictor, prompt validation, geometry: resize longest side,
pad, coordinates and mask post-processing; results, files, visualize), `automatic`
(SamAutomaticMaskGenerator and the folder runner), `models` (SAM and SAM 3 presets and
architectures built from configs), `labelling` (prompts.json entries, batch labelling, the
masks-layout writer), `label_app` (the labelling page), `sam3` (TextSegmenter: text prompts)
and `servable` (a servable SAM SavedModel).
"""

from segmodel.sam.automatic.generator import SamAutomaticMaskGenerator
from segmodel.sam.prompting.files import load_image
from segmodel.sam.prompting.predictor import SamPredictor
from segmodel.sam.prompting.prompts import Prompts, check_prompts
from segmodel.sam.prompting.visualize import (
    overlay_figure,
    save_overlay,
    show_box,
    show_mask,
    show_points,
)
from segmodel.sam.sam3.segmenter import TextInstance, TextSegmenter

__all__ = [
    "Prompts",
    "SamAutomaticMaskGenerator",
    "SamPredictor",
    "TextInstance",
    "TextSegmenter",
    "check_prompts",
    "load_image",
    "overlay_figure",
    "save_overlay",
    "show_box",
    "show_mask",
    "show_points",
]
