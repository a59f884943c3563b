"""SharedEmbeddingDecoder against keras-hub's own SAMMaskDecoder, layer for layer.

The reference is keras-hub's decoder called the way keras-hub calls it: the prompt encoder's
outputs and the image embedding broadcast over the prompt batch. The weights are random and
jittered (keras initialises biases to zero, which would hide a wrong bias term)."""

import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from segmodel.sam.prompting.shared_decoder import SharedEmbeddingDecoder, supports


def _jitter(layer, seed):
    rng = np.random.default_rng(seed)
    for weight in layer.weights:
        weight.assign(weight.numpy() + rng.normal(0, 0.2, weight.shape).astype(np.float32))


def _model(num_layers, hidden, heads, grid, seed=0):
    prompt_encoder = keras_hub.layers.SAMPromptEncoder(
        hidden_size=hidden, image_embedding_size=(grid, grid),
        input_image_size=(16 * grid, 16 * grid), mask_in_channels=16)
    decoder = keras_hub.layers.SAMMaskDecoder(
        num_layers=num_layers, hidden_size=hidden, intermediate_dim=2 * hidden,
        num_heads=heads, embedding_dim=hidden, num_multimask_outputs=3, iou_head_depth=3,
        iou_head_hidden_dim=8)
    prompt_encoder.build()
    decoder.build()
    _jitter(prompt_encoder, seed)
    _jitter(decoder, seed + 1)
    return prompt_encoder, decoder


def _prompts(batch, points, with_box, grid, mask_prompt, seed):
    rng = np.random.default_rng(seed)
    size = 16 * grid
    inputs = {
        "points": rng.uniform(0, size, (batch, points, 2)).astype(np.float32),
        "labels": rng.integers(0, 2, (batch, points)).astype(np.float32),
        "boxes": np.sort(rng.uniform(0, size, (batch, int(with_box), 2, 2)), axis=2)
        .astype(np.float32),
        "masks": rng.normal(0, 2, (batch, int(mask_prompt), 4 * grid, 4 * grid, 1))
        .astype(np.float32),
    }
    return {k: tf.constant(v) for k, v in inputs.items()}


@pytest.mark.parametrize("num_layers,hidden,heads", [(2, 32, 8), (1, 16, 4), (3, 24, 2)])
@pytest.mark.parametrize("batch,points,with_box,mask_prompt", [
    (1, 2, False, False), (5, 1, False, False), (3, 3, True, False), (4, 0, True, True),
    (2, 2, False, True),
])
@pytest.mark.parametrize("jit_compile", [False, True])
def test_equals_keras_hub_decoder(num_layers, hidden, heads, batch, points, with_box,
                                  mask_prompt, jit_compile):
    grid = 8
    prompt_encoder, decoder = _model(num_layers, hidden, heads, grid)
    assert supports(decoder)
    prompts = _prompts(batch, points, with_box, grid, mask_prompt, seed=batch + points)
    embedding = tf.constant(np.random.default_rng(3).normal(0, 1, (1, grid, grid, hidden))
                            .astype(np.float32))
    encoded = prompt_encoder(**prompts)
    reference = decoder(image_embeddings=embedding, **encoded)

    dense = encoded["prompt_dense_embeddings"]
    if not mask_prompt:  # the shared "no mask" row, as SamPredictor passes it
        dense = tf.reshape(prompt_encoder.no_mask_embed.embeddings, [1, 1, 1, -1])
    masks, iou = SharedEmbeddingDecoder(decoder, jit_compile=jit_compile)(
        embedding, encoded["prompt_dense_positional_embeddings"],
        encoded["prompt_sparse_embeddings"], dense)

    assert masks.shape == (batch, 4, 4 * grid, 4 * grid) and iou.shape == (batch, 4)
    scale = float(tf.reduce_max(tf.abs(reference["masks"])))
    assert scale > 0.1  # a real signal, not all-zero logits that any code would match
    np.testing.assert_allclose(masks.numpy(), reference["masks"].numpy(), atol=2e-5 * scale)
    np.testing.assert_allclose(iou.numpy(), reference["iou_pred"].numpy(), atol=2e-5)
