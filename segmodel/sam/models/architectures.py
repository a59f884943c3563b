"""keras-hub SAM architectures built from configs, with random weights.

Real weights come from `SamPredictor.from_preset` (a keras-hub preset name such as
`sam_base_sa1b`, or a local folder written by `segmenter.save_to_preset`). These builders
exist for the cases where no weights can be downloaded: the benchmark (sam_base_sa1b's
exact architecture) and the tests (a 128-px model shaped like keras-hub's own SAM tests).
"""

import keras_hub

# Image-encoder (ViTDet) settings of keras-hub's SAM presets, as in keras-hub's
# tools/checkpoint_conversion/convert_sam_checkpoints.py; "tiny" follows keras-hub's
# sam_image_segmenter_test.py (128 px, hidden_size=16) with fewer layers for fast tests.
ENCODERS = {
    "sam_base": dict(hidden_size=768, num_layers=12, num_heads=12,
                     global_attention_layer_indices=[2, 5, 8, 11], window_size=14,
                     image_size=1024),
    "sam_large": dict(hidden_size=1024, num_layers=24, num_heads=16,
                      global_attention_layer_indices=[5, 11, 17, 23], window_size=14,
                      image_size=1024),
    "sam_huge": dict(hidden_size=1280, num_layers=32, num_heads=16,
                     global_attention_layer_indices=[7, 15, 23, 31], window_size=14,
                     image_size=1024),
    "tiny": dict(hidden_size=16, num_layers=2, num_heads=2,
                 global_attention_layer_indices=[1], window_size=2, image_size=128),
}
PATCH_SIZE = 16


def build_sam_segmenter(name="sam_base", with_preprocessor=True):
    """Build a randomly initialised `keras_hub.models.SAMImageSegmenter`.

    Args:
      name: one of `ENCODERS` ("sam_base" is sam_base_sa1b's architecture: ViT-B, 1024 px).
      with_preprocessor: attach the same image converter as the keras-hub presets
        (resize to the encoder size, scale 1/255), so code that must bypass it is tested
        against a faithful model.

    Returns:
      A SAMImageSegmenter taking images float32 `[B, S, S, 3]`; its mask decoder returns
      `masks` float32 `[B, 4, S/4, S/4]` and `iou_pred` float32 `[B, 4]`.
    """
    if name not in ENCODERS:
        raise ValueError(f"Unknown SAM architecture {name!r}; choose one of {sorted(ENCODERS)}.")
    cfg = dict(ENCODERS[name])
    size = cfg.pop("image_size")
    full = name != "tiny"
    # The tiny model keeps every width small but the real wiring (3 multimask tokens,
    # embedding grid = size / patch), so geometry checks exercise the same code paths.
    embed_dim = 256 if full else 32
    image_encoder = keras_hub.models.ViTDetBackbone(
        intermediate_dim=4 * cfg["hidden_size"],
        patch_size=PATCH_SIZE,
        num_output_channels=embed_dim,
        image_shape=(size, size, 3),
        **cfg,
    )
    grid = size // PATCH_SIZE
    prompt_encoder = keras_hub.layers.SAMPromptEncoder(
        hidden_size=embed_dim,
        image_embedding_size=(grid, grid),
        input_image_size=(size, size),
        mask_in_channels=16,
    )
    mask_decoder = keras_hub.layers.SAMMaskDecoder(
        num_layers=2,
        hidden_size=embed_dim,
        intermediate_dim=2048 if full else 32,
        num_heads=8,
        embedding_dim=embed_dim,
        num_multimask_outputs=3,
        iou_head_depth=3,
        iou_head_hidden_dim=256 if full else 8,
    )
    backbone = keras_hub.models.SAMBackbone(
        image_encoder=image_encoder, prompt_encoder=prompt_encoder, mask_decoder=mask_decoder
    )
    preprocessor = None
    if with_preprocessor:
        converter = keras_hub.layers.SAMImageConverter(height=size, width=size, scale=1 / 255.0)
        preprocessor = keras_hub.models.SAMImageSegmenterPreprocessor(converter)
    return keras_hub.models.SAMImageSegmenter(backbone=backbone, preprocessor=preprocessor)
