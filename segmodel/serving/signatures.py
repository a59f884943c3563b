"""In-graph serving functions: encoded image bytes -> model input -> masks.

Everything here is plain TensorFlow so that it can be traced into a SavedModel and run by
TensorFlow Serving (or `tf.saved_model.load`) without segkit or Keras installed. The
preprocessing is the training pipeline's (`segdata.input.pipeline`): decode to 3-channel RGB uint8,
`segdata.input.transforms.resize_image` (bilinear, rounded) to the model's input size, float32 0..255
(the model rescales itself). The segdata functions are traced into the graph, so the SavedModel
does not need segkit, yet served masks equal `argmax(model(training-pipeline image))`.

`make_endpoints(model, image_size)` returns the three `tf.function`s that `segmodel.serving.export`
registers with `keras.export.ExportArchive`.
"""

import tensorflow as tf

from segdata.input import transforms

# Leading bytes of every format `tf.io.decode_image` understands. Checking them first turns
# "empty string" / "not an image" into a message that names the offending batch element.
_MAGIC_PREFIXES = (
    b"\xff\xd8\xff",  # JPEG
    b"\x89PNG\r\n\x1a\n",  # PNG
    b"GIF87a",
    b"GIF89a",
    b"BM",  # BMP
    b"RIFF",  # WebP (RIFF....WEBP; the decoder checks the rest)
    b"\xff\x0a",  # JPEG XL codestream
    b"\x00\x00\x00\x0cJXL \r\n\x87\n",  # JPEG XL container
)
SUPPORTED_FORMATS = "JPEG, PNG, GIF, BMP, WebP or JPEG XL"

# Decoding is sequential per image; letting several loop iterations run at once is what keeps
# a batch of 32 JPEGs from being decoded on a single core.
_PARALLEL_DECODES = 16
_PARALLEL_UPSAMPLES = 4


def _looks_like_image(encoded):
    """bool scalar: whether `encoded` (tf.string scalar) starts with a known image signature."""
    return tf.reduce_any(
        [tf.strings.substr(encoded, 0, len(m)) == m for m in _MAGIC_PREFIXES]
    )


def decode_rgb(encoded, name="image"):
    """Decodes one encoded image to RGB with a readable error for non-image bytes.

    Args:
      encoded: tf.string scalar, JPEG/PNG/GIF/BMP/WebP bytes of any size. Grayscale and RGBA
        inputs become 3-channel RGB (alpha dropped); animations give their first frame.
      name: tf.string scalar or Python str used in the error message, e.g. "images[3]".

    Returns:
      uint8 [h, w, 3], the image at its own size.

    Raises (when run):
      tf.errors.InvalidArgumentError: "<name> is empty ..." or "<name> is not a ... image".
    """
    size = tf.strings.length(encoded)
    # tf.strings.join, not format: format quotes the name. No quote characters in the text: the
    # assertion prints them C-escaped.
    checks = [
        tf.debugging.Assert(
            size > 0,
            [tf.strings.join([name, " is an empty string: send the encoded image bytes (the "
                              "contents of a JPEG or PNG file)"])],
        ),
        tf.debugging.Assert(
            _looks_like_image(encoded),
            [tf.strings.join([name, " (", tf.strings.as_string(size), " bytes) is not a "
                              + SUPPORTED_FORMATS + " image: send the raw bytes of an image "
                              "file (base64 only inside a JSON b64 field)"])],
        ),
    ]
    with tf.control_dependencies(checks):
        # expand_animations=False keeps the rank at 3 for GIFs, so every input has one shape.
        image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
    return tf.ensure_shape(image, [None, None, 3])


def resize_for_model(image, image_size):
    """The training pipeline's resize, traced from segdata so the two cannot drift apart.

    Args:
      image: uint8 [h, w, 3].
      image_size: (H, W) of the model input.

    Returns:
      float32 [H, W, 3], values 0..255: bilinear, rounded to integers like the (cacheable
      uint8) training images.
    """
    return tf.cast(transforms.resize_image(image, image_size), tf.float32)


def decode_batch(images, image_size):
    """Decodes a batch of encoded images of mixed sizes into one model batch.

    Args:
      images: tf.string [N], encoded images.
      image_size: (H, W) of the model input.

    Returns:
      pixels: float32 [N, H, W, 3], 0..255, bilinearly resized.
      original_size: int32 [N, 2], (height, width) of each decoded image.
    """
    height, width = image_size

    def decode_one(args):
        encoded, index = args
        image = decode_rgb(encoded, tf.strings.join(["images[", tf.strings.as_string(index), "]"]))
        return resize_for_model(image, image_size), tf.shape(image)[:2]

    indices = tf.range(tf.shape(images)[0])
    pixels, original_size = tf.map_fn(
        decode_one,
        (images, indices),
        fn_output_signature=(
            tf.TensorSpec([height, width, 3], tf.float32),
            tf.TensorSpec([2], tf.int32),
        ),
        parallel_iterations=_PARALLEL_DECODES,
    )
    return pixels, original_size


def class_map(probabilities):
    """uint8 [..., H, W] argmax over the last axis of float [..., H, W, C] probabilities."""
    return tf.cast(tf.argmax(probabilities, axis=-1, output_type=tf.int32), tf.uint8)


def masks_at_original_size(probabilities, original_size):
    """Each image's class ids at its own size, in one batch tensor.

    Args:
      probabilities: float32 [N, H', W', C] at the model's size.
      original_size: int32 [N, 2], (height, width) of each image.

    Returns:
      uint8 [N, max height, max width]: image i's probabilities resized bilinearly to
      original_size[i], then the arg-max, in the top-left corner; 255 (ignore) beyond it.
    """
    limit = tf.reduce_max(original_size, axis=0)

    def one(args):
        probs, size = args
        # Probabilities, not the arg-max, are resized (bilinear, as Model Garden and
        # mmsegmentation score): thin classes survive the upsampling.
        mask = class_map(tf.image.resize(probs, size, method="bilinear"))
        return tf.pad(mask, [[0, limit[0] - size[0]], [0, limit[1] - size[1]]],
                      constant_values=255)

    # A few images at a time: each holds its full-size probabilities (160 MB for a 2048 x 1024
    # photo of 19 classes) until its arg-max is taken.
    return tf.map_fn(one, (probabilities, original_size),
                     fn_output_signature=tf.TensorSpec([None, None], tf.uint8),
                     parallel_iterations=_PARALLEL_UPSAMPLES)


def make_endpoints(model, image_size):
    """Builds the three serving functions for `model`.

    Args:
      model: keras.Model, float32 [B, H, W, 3] 0..255 -> softmax [B, H', W', C] (any dtype;
        mixed-precision outputs are cast to float32 here so clients never see float16).
      image_size: (H, W), the model's input size.

    Returns:
      dict endpoint name -> tf.function with a fixed input signature:
        "serving_default": images tf.string [N] -> {"masks": uint8 [N, H', W'],
            "probabilities": float32 [N, H', W', C], "original_size": int32 [N, 2],
            "original_masks": uint8 [N, max h, max w], each image's mask at its own size
            (`masks_at_original_size`), 255 beyond it}
        "segment_image": image tf.string [] -> {"mask": uint8 [h, w]} at the image's own size
            (the class probabilities resized bilinearly to it, then the arg-max)
        "predict_pixels": images float32 [N, H, W, 3] 0..255 -> {"probabilities": float32
            [N, H', W', C]}
    """
    height, width = image_size

    def probabilities_of(pixels):
        return tf.cast(model(pixels, training=False), tf.float32)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="images")], autograph=False)
    def serving_default(images):
        pixels, original_size = decode_batch(images, image_size)
        probabilities = probabilities_of(pixels)
        return {
            "masks": class_map(probabilities),
            "probabilities": probabilities,
            "original_size": original_size,
            "original_masks": masks_at_original_size(probabilities, original_size),
        }

    @tf.function(input_signature=[tf.TensorSpec([], tf.string, name="image")], autograph=False)
    def segment_image(image):
        decoded = decode_rgb(image, "image")
        probabilities = probabilities_of(resize_for_model(decoded, image_size)[tf.newaxis])
        return {"mask": masks_at_original_size(probabilities, tf.shape(decoded)[tf.newaxis, :2])[0]}

    @tf.function(
        input_signature=[tf.TensorSpec([None, height, width, 3], tf.float32, name="images")],
        autograph=False,
    )
    def predict_pixels(images):
        return {"probabilities": probabilities_of(images)}

    return {
        "serving_default": serving_default,
        "segment_image": segment_image,
        "predict_pixels": predict_pixels,
    }
