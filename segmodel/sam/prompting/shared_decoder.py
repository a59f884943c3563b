"""keras-hub's SAM mask decoder, computed for B prompts against one shared image embedding.

keras-hub's `SAMMaskDecoder` (like segment-anything's) first copies the image embedding
once per prompt, `[B, E*E, C]`, and then runs every image-side projection of its two-way
transformer on each copy. For the automatic mask generator (64 prompts per call against one
embedding) those copies and projections are most of the decoder's time. This module gives
the same numbers (up to float rounding: tested against keras-hub's layer) with the same
weights, re-associated so that work is shared or shrunk:

- Image-side projections that do not depend on the prompt (the positional term, and in the
  first layer everything, while the keys are still the shared embedding plus the "no mask"
  embedding) are computed once, not B times.
- Where the image side is per prompt, the few prompt tokens are folded into the projection
  weights first (`keys @ (W_k @ q_heads)` instead of `(keys @ W_k) @ q_heads`), and the
  attention output projection is folded into the values, so the `[B, E*E, C/2]`
  intermediates are never formed.
- The stride-2, kernel-2 transposed convolutions of the upscaler touch disjoint output
  pixels, so they run as matmuls that keep each output pixel's 4x4 block beside its source
  pixel; the blocks are put in raster order only at the end, on the `[B, M, 4E, 4E]` masks,
  not on the 32-channel features.

Token-side work (self-attention, MLPs, layer norms, IoU head, hypernetworks) calls keras-hub's
own layers: it is tiny and keeps their exact semantics.
"""

import tensorflow as tf


def _dense(layer):
    return layer.kernel, layer.bias


def _block_diagonal(x, heads):
    """`[B, T, H*d]` -> `[B, H*d, H*T]` with head h's `[d, T]` block on the diagonal.

    `a @ block_diagonal(x)` gives every head's dot products with the T vectors at once.
    """
    shape = tf.shape(x)
    per_head = tf.reshape(x, [shape[0], shape[1], heads, -1])          # [B, T, H, d]
    eye = tf.eye(heads, dtype=x.dtype)
    blocks = tf.einsum("bthj,hg->bhjgt", per_head, eye)                # [B, H, d, H, T]
    depth = tf.shape(per_head)[3]
    return tf.reshape(blocks, [shape[0], heads * depth, heads * shape[1]])


class SharedEmbeddingDecoder:
    """Prompt batch -> masks, equal to `SAMMaskDecoder` on a broadcast image embedding.

    Args:
      mask_decoder: a built `keras_hub.layers.SAMMaskDecoder` (float32).
      jit_compile: compile the image-side update and the upscaler with XLA. Both are
        chains of memory-bound element-wise ops (layer norms, exact GELUs) on tensors of
        B x 1-4M floats; fused, they take about half the time (ViT-B, B = 64, 2-core CPU).
        False keeps the graph to plain TensorFlow ops (what the exported SavedModel uses).
    """

    def __init__(self, mask_decoder, jit_compile=True):
        self.decoder = mask_decoder
        self.transformer = mask_decoder.transformer
        self.heads = int(self.transformer.num_heads)
        # Only these two parts: XLA made the token-to-image attention slower, not faster.
        self._image_update = tf.function(self._image_update_fn, autograph=False,
                                         jit_compile=jit_compile)
        self._upscale = tf.function(self._upscale_and_project, autograph=False,
                                    jit_compile=jit_compile)

    def __call__(self, embedding, image_pe, sparse, dense):
        """Decode B prompts.

        Args:
          embedding: float32 `[1, E, E, C]`, the image embedding.
          image_pe: float32 `[1, E, E, C]`, the prompt encoder's dense positional encoding.
          sparse: float32 `[B, P, C]`, the prompt encoder's sparse (point/box) embeddings.
          dense: float32 `[1, 1, 1, C]` (the "no mask" embedding, shared) or
            `[B, E, E, C]` (mask prompts).

        Returns:
          masks float32 `[B, M, 4E, 4E]` low-res logits and iou_pred float32 `[B, M]`, M =
          1 + the number of multimask outputs (keras-hub's token order).
        """
        dec = self.decoder
        side, channels = tf.shape(embedding)[1], tf.shape(embedding)[3]
        batch = tf.shape(sparse)[0]
        output_tokens = tf.concat([dec.iou_token.embeddings, dec.mask_tokens.embeddings], 0)
        tokens = tf.concat([tf.broadcast_to(output_tokens[None],
                                            [batch, *output_tokens.shape]), sparse], axis=1)
        # [1, N, C] while shared by every prompt, [B, N, C] once prompt-dependent.
        keys = tf.reshape(embedding + dense, [tf.shape(dense)[0], side * side, channels])
        pe = tf.reshape(image_pe, [side * side, channels])

        queries = tokens
        for layer in self.transformer.layers:
            queries, keys = self._two_way_layer(layer, queries, keys, tokens, pe)
        final = self.transformer.final_attention_token_to_image
        queries = queries + self._token_to_image(final, queries + tokens, keys, pe)
        queries = self.transformer.final_layer_norm(queries)

        mask_tokens = queries[:, 1:1 + dec.num_mask_tokens]
        hyper = tf.stack([mlp(mask_tokens[:, i]) for i, mlp in
                          enumerate(dec.output_hypernetworks_mlps)], axis=1)  # [B, M, C/8]
        masks = self._upscale(tf.reshape(keys, [-1, side, side, channels]), hyper)
        return masks, dec.iou_prediction_head(queries[:, 0])

    def _two_way_layer(self, layer, queries, keys, tokens, pe):
        if layer.skip_first_layer_pos_embedding:
            queries = layer.self_attention(query=queries, value=queries, key=queries)
        else:
            with_pe = queries + tokens
            queries = queries + layer.self_attention(query=with_pe, key=with_pe,
                                                     value=queries)
        queries = layer.layer_norm1(queries)
        queries = queries + self._token_to_image(layer.cross_attention_token_to_image,
                                                 queries + tokens, keys, pe)
        queries = layer.layer_norm2(queries)
        queries = layer.layer_norm3(queries + layer.mlp_block(queries))
        return queries, self._image_update(layer, keys, pe, queries + tokens, queries)

    def _image_update_fn(self, layer, keys, pe, token_keys, token_values):
        update = self._image_to_token(layer.cross_attention_image_to_token, keys, pe,
                                      token_keys, token_values)
        return layer.layer_norm4(keys + update)

    def _token_to_image(self, attention, query, keys, pe):
        """Tokens `[B, T, C]` attend to the image: query tokens, key `keys + pe`, value `keys`.

        `keys` is `[1, N, C]` (shared) or `[B, N, C]`. Returns `[B, T, C]`.
        """
        heads = self.heads
        w_q, b_q = _dense(attention.query_proj)
        w_k, b_k = _dense(attention.key_proj)
        w_v, b_v = _dense(attention.value_proj)
        batch, count = tf.shape(query)[0], tf.shape(query)[1]
        depth = tf.shape(w_q)[1] // heads
        scale = 1.0 / tf.sqrt(tf.cast(depth, tf.float32))
        q = tf.reshape(query @ w_q + b_q, [batch, count, heads, depth]) * scale
        pe_k = pe @ w_k + b_k                                             # [N, D]
        if keys.shape[0] == 1:  # shared: project the image once for all prompts
            k = tf.reshape(keys[0] @ w_k + pe_k, [-1, heads, depth])
            scores = tf.einsum("bthd,nhd->bhtn", q, k)
        else:  # per prompt: fold the tokens into W_k, read the image once
            w_k_heads = tf.reshape(w_k, [-1, heads, depth])              # [C, H, d]
            q_w = tf.reshape(tf.einsum("bthd,chd->bhtc", q, w_k_heads),
                             [batch, heads * count, -1])
            scores = tf.reshape(tf.einsum("bthd,nhd->bhtn", q, tf.reshape(
                pe_k, [-1, heads, depth])), [batch, heads * count, -1])
            scores += tf.matmul(q_w, keys, transpose_b=True)
        scores = tf.reshape(scores, [batch, heads * count, -1])          # [B, H*T, N]
        attention_weights = tf.nn.softmax(scores, axis=-1)
        if keys.shape[0] == 1:
            mixed = tf.reshape(tf.reshape(attention_weights, [-1, tf.shape(keys)[1]]) @ keys[0],
                               [batch, heads, count, -1])                # [B, H, T, C]
        else:
            mixed = tf.reshape(attention_weights @ keys, [batch, heads, count, -1])
        # Rows of the attention sum to 1, so the value bias passes through unchanged.
        values = tf.einsum("bhtc,chd->bthd", mixed, tf.reshape(w_v, [-1, heads, depth]))
        values = tf.reshape(values, [batch, count, heads * depth]) + b_v
        return attention.out_proj(values)

    def _image_to_token(self, attention, keys, pe, token_keys, token_values):
        """The image attends to the tokens: query `keys + pe`, key `token_keys`, value
        `token_values` (`[B, T, C]`). Returns the out-projected update, `[B, N, C]`."""
        heads = self.heads
        w_q, b_q = _dense(attention.query_proj)
        w_o, b_o = _dense(attention.out_proj)
        batch, count = tf.shape(token_keys)[0], tf.shape(token_keys)[1]
        depth = tf.shape(w_q)[1] // heads
        scale = 1.0 / tf.sqrt(tf.cast(depth, tf.float32))
        k = _block_diagonal(attention.key_proj(token_keys) * scale, heads)    # [B, D, H*T]
        v = _block_diagonal(attention.value_proj(token_values), heads)        # [B, D, H*T]
        values_out = tf.matmul(v, w_o, transpose_a=True)                      # [B, H*T, C]
        pe_q = pe @ w_q + b_q                                                 # [N, D]
        if keys.shape[0] == 1:
            scores = (keys[0] @ w_q + pe_q)[None] @ k                        # [B, N, H*T]
        else:
            scores = keys @ (w_q @ k) + pe_q[None] @ k
        per_head = tf.reshape(scores, [batch, -1, heads, count])
        weights = tf.reshape(tf.nn.softmax(per_head, axis=-1), [batch, -1, heads * count])
        return weights @ values_out + b_o

    def _upscale_and_project(self, keys, hyper):
        """keys `[B|1, E, E, C]`, hyper `[B, M, C/8]` -> masks `[B, M, 4E, 4E]`.

        keras-hub: ConvTranspose(2, stride 2) -> LayerNorm -> GELU -> ConvTranspose(2, stride
        2) -> GELU, then each mask is the hypernetwork vector's dot product with every pixel.
        """
        up1, norm, act1, up2, act2 = self.decoder.output_upscaling.layers
        batch = tf.shape(hyper)[0]
        side = tf.shape(keys)[1]
        keys = tf.reshape(tf.broadcast_to(keys, [batch, side, side, tf.shape(keys)[3]]),
                          [batch, side * side, -1])
        x = self._conv_transpose_2x2(keys, up1)                    # [B, N, 4, C/4]
        x = act1(norm(x))
        x = self._conv_transpose_2x2(tf.reshape(x, [batch, -1, tf.shape(x)[-1]]), up2)
        x = act2(x)                                                # [B, N*4, 4, C/8]
        masks = tf.reshape(x, [batch, -1, tf.shape(x)[-1]]) @ tf.transpose(hyper, [0, 2, 1])
        # Row index = (y, x, i1, j1, i2, j2): pixel (4y + 2 i1 + i2, 4x + 2 j1 + j2).
        count = tf.shape(hyper)[1]
        masks = tf.reshape(masks, [batch, side, side, 2, 2, 2, 2, count])
        masks = tf.transpose(masks, [0, 7, 1, 3, 5, 2, 4, 6])
        return tf.reshape(masks, [batch, count, 4 * side, 4 * side])

    @staticmethod
    def _conv_transpose_2x2(x, layer):
        """Keras Conv2DTranspose(kernel 2, stride 2, valid) as a matmul on `[B, P, Cin]`.

        Returns `[B, P, 4, Cout]`: output pixel (2y + i, 2x + j) of input pixel p is
        `[:, p, 2 i + j]`.
        """
        kernel = layer.kernel                                      # [2, 2, Cout, Cin]
        c_out, c_in = kernel.shape[2], kernel.shape[3]
        weights = tf.reshape(tf.transpose(kernel, [3, 0, 1, 2]), [c_in, 4 * c_out])
        shape = tf.shape(x)
        out = tf.reshape(x @ weights, [shape[0], shape[1], 4, c_out])
        return out + layer.bias


def supports(mask_decoder):
    """True when `mask_decoder` has the structure `SharedEmbeddingDecoder` re-associates
    (keras-hub's SAMMaskDecoder: two 2x2, stride-2, valid transposed convolutions)."""
    layers = getattr(getattr(mask_decoder, "output_upscaling", None), "layers", [])
    if len(layers) != 5 or not hasattr(mask_decoder, "transformer"):
        return False
    return all(getattr(layers[i], "kernel_size", None) == (2, 2)
               and getattr(layers[i], "strides", None) == (2, 2)
               and getattr(layers[i], "padding", None) == "valid"
               and getattr(layers[i], "use_bias", False) for i in (0, 3))


def batch_decode_functions(prompt_encoder, mask_decoder, low_res_size):
    """The tf.functions `SamPredictor` decodes B > 1 prompts with, or None if unsupported.

    Returns:
      {0: fn without mask prompts, 1: fn with one mask prompt per row}; each fn takes
      (embedding `[1, E, E, C]`, points `[B, N, 2]`, labels `[B, N]`, boxes `[B, M, 2, 2]`,
      masks `[B, 0|1, L, L, 1]`), all float32, and returns (masks `[B, 4, L, L]`,
      iou_pred `[B, 4]`) as keras-hub's mask decoder does.
    """
    if not supports(mask_decoder):
        return None
    decoder = SharedEmbeddingDecoder(mask_decoder)

    def decode(embedding, points, labels, boxes, masks):
        prompt = prompt_encoder(points=points, labels=labels, boxes=boxes, masks=masks)
        dense = prompt["prompt_dense_embeddings"]
        if masks.shape[1] == 0:  # one shared "no mask" row instead of B copies
            dense = tf.reshape(prompt_encoder.no_mask_embed.embeddings, [1, 1, 1, -1])
        return decoder(embedding, prompt["prompt_dense_positional_embeddings"],
                       prompt["prompt_sparse_embeddings"], dense)

    specs = [tf.TensorSpec([1, None, None, None], tf.float32),
             tf.TensorSpec([None, None, 2], tf.float32), tf.TensorSpec([None, None], tf.float32),
             tf.TensorSpec([None, None, 2, 2], tf.float32)]
    size = low_res_size
    return {count: tf.function(decode, autograph=False, input_signature=[
        *specs, tf.TensorSpec([None, count, size, size, 1], tf.float32)]) for count in (0, 1)}
