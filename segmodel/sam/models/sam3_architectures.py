"""keras-hub SAM 3 (promptable concept segmentation) built from configs, with random weights.

Real weights come from `TextSegmenter.from_preset("sam3_pcs")` (Kaggle) or a local folder
written by `segmenter.save_to_preset(folder)`. These builders exist for the cases where no
weights can be downloaded: the benchmark ("sam3_pcs": the preset's architecture and input
size) and the tests ("tiny": keras-hub's own SAM 3 test model, 28 px).

The image converter and tokenizer settings are those keras-hub's
`tools/checkpoint_conversion/convert_sam3_checkpoints.py` writes into the preset: images
stretched (no crop, no pad) to 1008 x 1008 with antialiasing, then normalised with mean and
std 0.5; text tokenised by CLIP's BPE. Without network there is no CLIP vocabulary, so the
tokenizer here uses a small hand-made one (lowercase letters, digits and a few whole
words); token ids only have to be below the text encoder's vocabulary size.
"""

import string

import keras_hub

# Sub-model settings of facebook/sam3 (transformers' Sam3Config defaults, which keras-hub's
# convert_sam3.py maps onto its layers); "tiny" follows keras-hub's
# sam3_pc_image_segmenter_test.py with one layer where it can.
SAM3_ARCHITECTURES = {
    "sam3_pcs": dict(
        image_size=1008, patch_size=14,
        vision=dict(num_layers=32, hidden_dim=1024, intermediate_dim=4736, num_heads=16,
                    fpn_hidden_dim=256, pretrain_image_shape=(336, 336, 3), window_size=24,
                    global_attn_indexes=[7, 15, 23, 31], rope_theta=10000.0),
        text=dict(vocabulary_size=49408, embedding_dim=1024, hidden_dim=1024, num_layers=24,
                  num_heads=16, intermediate_dim=4096, max_sequence_length=32),
        geometry=dict(num_layers=3, hidden_dim=256, intermediate_dim=2048, num_heads=8,
                      roi_size=7, hidden_activation="relu"),
        detr_encoder=dict(num_layers=6, hidden_dim=256, intermediate_dim=2048, num_heads=8,
                          hidden_activation="relu"),
        detr_decoder=dict(num_layers=6, hidden_dim=256, intermediate_dim=2048, num_heads=8,
                          num_queries=200, hidden_activation="relu"),
        mask_decoder=dict(num_upsampling_stages=3, hidden_dim=256, num_heads=8),
    ),
    "tiny": dict(
        image_size=28, patch_size=14,
        vision=dict(num_layers=2, hidden_dim=16, intermediate_dim=32, num_heads=2,
                    fpn_hidden_dim=16, pretrain_image_shape=(42, 42, 3), window_size=2,
                    global_attn_indexes=[1, 2]),
        text=dict(vocabulary_size=None, embedding_dim=16, hidden_dim=16, num_layers=1,
                  num_heads=2, intermediate_dim=32),
        geometry=dict(num_layers=1, hidden_dim=16, intermediate_dim=32, num_heads=2,
                      roi_size=7),
        detr_encoder=dict(num_layers=1, hidden_dim=16, intermediate_dim=32, num_heads=2),
        detr_decoder=dict(num_layers=1, hidden_dim=16, intermediate_dim=32, num_heads=2,
                          num_queries=8),
        mask_decoder=dict(num_upsampling_stages=3, hidden_dim=16, num_heads=2),
    ),
}

# Whole words the hand-made vocabulary knows, so "a cat" is three tokens, not five.
WORDS = ("a", "an", "the", "cat", "dog", "pet", "animal", "person")


def hand_made_vocabulary(words=WORDS):
    """A small CLIP-style BPE vocabulary and merge list.

    Every lowercase letter and digit is a token on its own and at the end of a word
    (`c`, `c</w>`), so any lowercase ASCII text tokenises; each of `words` is one token
    through merges that build it letter by letter. Other characters become
    `<|endoftext|>` (CLIP's unknown token).

    Returns:
      (vocabulary: dict token -> id, merges: list of "a b" strings).
    """
    tokens = ["<|startoftext|>", "<|endoftext|>"]
    for char in string.ascii_lowercase + string.digits + "!\"'.,-":
        tokens += [char, char + "</w>"]
    merges = []
    for word in words:
        # Merge left to right: "c a" -> "ca", "ca t</w>" -> "cat</w>".
        piece = word[0]
        for i, char in enumerate(word[1:], start=1):
            right = char + "</w>" if i == len(word) - 1 else char
            merges.append(f"{piece} {right}")
            piece = piece + right
            tokens.append(piece)
    vocabulary = {}
    for token in tokens:
        vocabulary.setdefault(token, len(vocabulary))
    return vocabulary, list(dict.fromkeys(merges))


def build_sam3_segmenter(name="tiny", image_size=None):
    """Build a randomly initialised `keras_hub.models.SAM3PromptableConceptImageSegmenter`.

    Args:
      name: one of `SAM3_ARCHITECTURES` ("sam3_pcs" is the preset's architecture: a 32-layer
        ViT at 1008 px, 200 queries; "tiny" is for tests).
      image_size: optional model input size S (a multiple of the patch size 14), e.g. 56 for
        a tiny model with a finer mask grid.

    Returns:
      The segmenter with its preprocessor (tokenizer with `hand_made_vocabulary`, image
      converter as in the preset). Its `predict({"images", "prompts"})` returns `scores`
      float32 `[B, Q]`, `boxes` `[B, Q, 4]` and `masks` `[B, Q, 4S/14, 4S/14]`.
    """
    if name not in SAM3_ARCHITECTURES:
        raise ValueError(
            f"Unknown SAM 3 architecture {name!r}; choose one of {sorted(SAM3_ARCHITECTURES)}."
        )
    arch = SAM3_ARCHITECTURES[name]
    size = int(image_size or arch["image_size"])
    patch = arch["patch_size"]
    if size % patch:
        raise ValueError(f"image_size must be a multiple of {patch}, got {size}.")
    shape = (size, size, 3)
    vocabulary, merges = hand_made_vocabulary()
    text_cfg = dict(arch["text"])
    text_cfg["vocabulary_size"] = text_cfg["vocabulary_size"] or len(vocabulary)
    backbone = keras_hub.models.SAM3PromptableConceptBackbone(
        vision_encoder=keras_hub.layers.SAM3VisionEncoder(
            image_shape=shape, patch_size=patch, fpn_scale_factors=[4.0, 2.0, 1.0, 0.5],
            **arch["vision"]),
        text_encoder=keras_hub.layers.SAM3TextEncoder(**text_cfg),
        geometry_encoder=keras_hub.layers.SAM3GeometryEncoder(**arch["geometry"]),
        detr_encoder=keras_hub.layers.SAM3DetrEncoder(**arch["detr_encoder"]),
        detr_decoder=keras_hub.layers.SAM3DetrDecoder(
            image_shape=shape, patch_size=patch, **arch["detr_decoder"]),
        mask_decoder=keras_hub.layers.SAM3MaskDecoder(**arch["mask_decoder"]),
    )
    converter = keras_hub.layers.SAM3ImageConverter(
        image_size=(size, size),
        scale=[1.0 / 255.0 / 0.5] * 3,
        offset=[-0.5 / 0.5] * 3,
        crop_to_aspect_ratio=False,
        antialias=True,
    )
    tokenizer = keras_hub.models.SAM3Tokenizer(vocabulary, merges, name="sam3_tokenizer")
    preprocessor = keras_hub.models.SAM3PromptableConceptImageSegmenterPreprocessor(
        tokenizer, converter)
    return keras_hub.models.SAM3PromptableConceptImageSegmenter(
        backbone=backbone, preprocessor=preprocessor)
