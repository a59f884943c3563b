"""Segment Anything (keras-hub SAM) with point and box prompts in image pixels.

    from segmodel.sam import SamPredictor, save_overlay
    predictor = SamPredictor.from_preset("sam_base_sa1b")  # or a local preset folder
    image = load_image("photo.jpg")                        # uint8 [H, W, 3]
    predictor.set_image(image)                             # runs the image encoder once
    masks, scores, _ = predictor.predict(point_coords=[[320, 240]], point_labels=[1])
    save_overlay("overlay.png", image, masks, scores, [[320, 240]], [1])

Modules: `predictor` (SamPredictor: points, boxes, mask prompts, batched prompts),
`generator` (SamAutomaticMaskGenerator) with `amg` (its vectorised helpers), `labelling`
(prompts.json entries and the mask rule shared by every labelling path), `label_folder`
(label a folder of images into a Pets-layout folder), `export` (a servable SavedModel),
`transforms` (resize longest side, pad, coordinates, mask post-processing), `prompts`
(validation), `visualize` (matplotlib helpers), `files` (image loading, atomic writes),
`loading` (SAM presets, over `segmodel.models.presets`), `architectures` (SAM built from configs).
Text prompts (SAM 3): `text` (TextSegmenter), `text_geometry` (image-converter geometry),
`text_results` (output files), `text_labelling` (labelling a folder from text),
`sam3_architectures` (SAM 3 built from configs).
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
