"""Record keys and tf.train.Example serialization for one sample.

Keys follow the TF Model Garden / DeepLab segmentation convention, so Model Garden's
`segmentation_input.Decoder` reads our records unchanged. Every key is always present.

Serialization does not import TensorFlow: worker processes of the converter would otherwise
pay ~5 s and ~300 MB each just to build protobufs. We register the three `example.proto`
messages (wire-identical to `tensorflow.Example`) in a private descriptor pool and serialize
with `deterministic=True`, which sorts the feature map so bytes are identical across processes
(tests check the bytes equal `tf.train.Example(...).SerializeToString(deterministic=True)`).
`FEATURE_SPEC` (for `tf.io.parse_single_example`) is built lazily, on first access.
"""

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

IMAGE_ENCODED = "image/encoded"
IMAGE_FORMAT = "image/format"
IMAGE_HEIGHT = "image/height"
IMAGE_WIDTH = "image/width"
IMAGE_CHANNELS = "image/channels"
IMAGE_FILENAME = "image/filename"
IMAGE_SOURCE_ID = "image/source_id"
MASK_ENCODED = "image/segmentation/class/encoded"
MASK_FORMAT = "image/segmentation/class/format"
CLASS_LABEL = "image/class/label"
SPECIES = "image/species"

BYTES_KEYS = (IMAGE_ENCODED, IMAGE_FORMAT, IMAGE_FILENAME, IMAGE_SOURCE_ID, MASK_ENCODED,
              MASK_FORMAT)
INT_KEYS = (IMAGE_HEIGHT, IMAGE_WIDTH, IMAGE_CHANNELS, CLASS_LABEL, SPECIES)


def _build_message_classes():
    """Example/Features/Feature classes from a hand-written copy of tensorflow/core/example/*.proto.

    Field numbers and types match TensorFlow's protos exactly; only the package name
    differs, which never appears on the wire.
    """
    T = descriptor_pb2.FieldDescriptorProto
    f = descriptor_pb2.FileDescriptorProto(name="segkit_example.proto", package="segkit",
                                           syntax="proto3")

    def message(name, *fields):
        m = f.message_type.add(name=name)
        for field_name, number, ftype, label, type_name, oneof in fields:
            fld = m.field.add(name=field_name, number=number, type=ftype, label=label)
            if type_name:
                fld.type_name = type_name
            if oneof is not None:
                fld.oneof_index = oneof
        return m

    opt, rep = T.LABEL_OPTIONAL, T.LABEL_REPEATED
    message("BytesList", ("value", 1, T.TYPE_BYTES, rep, None, None))
    message("FloatList", ("value", 1, T.TYPE_FLOAT, rep, None, None))
    message("Int64List", ("value", 1, T.TYPE_INT64, rep, None, None))
    feat = message("Feature", ("bytes_list", 1, T.TYPE_MESSAGE, opt, ".segkit.BytesList", 0),
                   ("float_list", 2, T.TYPE_MESSAGE, opt, ".segkit.FloatList", 0),
                   ("int64_list", 3, T.TYPE_MESSAGE, opt, ".segkit.Int64List", 0))
    feat.oneof_decl.add(name="kind")
    feats = message("Features", ("feature", 1, T.TYPE_MESSAGE, rep, ".segkit.Features.FeatureEntry",
                                 None))
    entry = feats.nested_type.add(name="FeatureEntry")
    entry.options.map_entry = True
    entry.field.add(name="key", number=1, type=T.TYPE_STRING, label=opt)
    entry.field.add(name="value", number=2, type=T.TYPE_MESSAGE, label=opt,
                    type_name=".segkit.Feature")
    message("Example", ("features", 1, T.TYPE_MESSAGE, opt, ".segkit.Features", None))

    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("segkit.Example"))


_Example = _build_message_classes()


def serialize_example(*, image_bytes, height, width, filename, source_id, mask_bytes,
                      label=-1, species=-1, image_format="jpeg", extra=None):
    """Serialized tf.train.Example (bytes) for one sample.

    Args:
      image_bytes: JPEG bytes of an RGB image of `height` x `width` pixels (channels = 3).
      height, width: int image size in pixels.
      filename: str, e.g. "Abyssinian_1.jpg"; source_id: str stem, e.g. "Abyssinian_1".
      mask_bytes: PNG bytes of a single-channel uint8 mask, same size as the image (Pets: the
        trimap, values 1..3; every other format: train ids, 255 ignore).
      label: int breed CLASS-ID 1..37, -1 when unknown; species: int 1 cat / 2 dog, -1 unknown.
      image_format: "jpeg" or "png": what `image_bytes` are (image/format always matches).
      extra: optional {key: (kind, values)} with kind "bytes", "int64" or "float": more
        features, e.g. Model Garden's instance keys (`image/object/...`).
    """
    ex = _Example()
    fmap = ex.features.feature
    for key, value in ((IMAGE_ENCODED, image_bytes), (IMAGE_FORMAT, image_format.encode()),
                       (IMAGE_FILENAME, filename.encode()), (IMAGE_SOURCE_ID, source_id.encode()),
                       (MASK_ENCODED, mask_bytes), (MASK_FORMAT, b"png")):
        fmap[key].bytes_list.value.append(value)
    for key, value in ((IMAGE_HEIGHT, height), (IMAGE_WIDTH, width), (IMAGE_CHANNELS, 3),
                       (CLASS_LABEL, label), (SPECIES, species)):
        fmap[key].int64_list.value.append(int(value))
    for key, (kind, values) in (extra or {}).items():
        if kind == "bytes":
            fmap[key].bytes_list.value.extend(values)
        elif kind == "int64":
            fmap[key].int64_list.value.extend(int(v) for v in values)
        elif kind == "float":
            fmap[key].float_list.value.extend(float(v) for v in values)
        else:
            raise ValueError(f"feature {key}: kind must be bytes, int64 or float, got {kind!r}")
        if not values:  # an empty list still has to say its type, so readers can parse it
            fmap[key].SetInParent()
            getattr(fmap[key], {"bytes": "bytes_list", "int64": "int64_list",
                                "float": "float_list"}[kind]).SetInParent()
    return ex.SerializeToString(deterministic=True)


def parse_example_bytes(data):
    """Parse serialized Example bytes without TensorFlow -> dict key -> bytes | int.

    Raises google.protobuf.message.DecodeError on bytes that are not an Example.
    """
    ex = _Example.FromString(data)
    out = {}
    for key, feat in ex.features.feature.items():
        kind = feat.WhichOneof("kind")
        values = list(getattr(feat, kind).value) if kind else []
        out[key] = values[0] if len(values) == 1 else values
    return out


def __getattr__(name):
    # FEATURE_SPEC needs TensorFlow; build it on first use so workers never import TF.
    if name == "FEATURE_SPEC":
        import tensorflow as tf

        spec = {k: tf.io.FixedLenFeature([], tf.string) for k in BYTES_KEYS}
        spec.update({k: tf.io.FixedLenFeature([], tf.int64, default_value=-1) for k in INT_KEYS})
        globals()["FEATURE_SPEC"] = spec
        return spec
    raise AttributeError(f"module 'segdata.records.features' has no attribute {name!r}")
