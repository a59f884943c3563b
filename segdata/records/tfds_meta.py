"""TFDS metadata beside manifest.json, so one record set reads through TFDS too.

After `write_tfds_metadata(out, manifest)`:

    builder = tfds.builder_from_directory(out)
    ds = builder.as_dataset(split="train")   # dicts, nested like the record keys:
    ex["image"]["encoded"]                              uint8 [H, W, 3]  (decoded JPEG)
    ex["image"]["segmentation"]["class"]["encoded"]     uint8 [H, W, 1]  (decoded PNG trimap,
                                                        stored values 1..3, not shifted)
    ex["image"]["class"]["label"], ex["image"]["species"], ex["image"]["source_id"], ...

TFDS flattens nested feature dicts with "/", so the nested `FeaturesDict` below reads exactly
the Model Garden keys the converter writes (`segdata.records.features`); nothing is stored twice.
Split sizes come from the manifest, so no shard is re-read to count examples.
"""

import os
import warnings

import numpy as np

from segdata.records import features as F

TFDS_FILES = ("features.json", "dataset_info.json")
HOMEPAGE = "https://www.robots.ox.ac.uk/~vgg/data/pets/"
CITATION = """@InProceedings{parkhi12a,
  author    = "Parkhi, O. M. and Vedaldi, A. and Zisserman, A. and Jawahar, C.~V.",
  title     = "Cats and Dogs",
  booktitle = "IEEE Conference on Computer Vision and Pattern Recognition",
  year      = "2012",
}"""


def pets_features(mask_doc="trimap: 1 foreground, 2 background, 3 outline"):
    """The tfds.features.FeaturesDict of one record; its flattened keys are
    `segdata.records.features`' (every format writes them; extra instance keys are not
    listed, and TFDS leaves them out)."""
    import tensorflow_datasets as tfds

    tf_ = tfds.features
    scalar = lambda doc: tf_.Scalar(np.int64, doc=doc)  # noqa: E731
    nested = {
        "image": {
            "encoded": tf_.Image(shape=(None, None, 3), encoding_format="jpeg",
                                 doc="RGB photo, JPEG bytes (PNG where image/format says png)"),
            "format": tf_.Text(doc='"jpeg" or "png"'),
            "height": scalar("image height in pixels"),
            "width": scalar("image width in pixels"),
            "channels": scalar("3"),
            "filename": tf_.Text(doc="source file name, e.g. Abyssinian_1.jpg"),
            "source_id": tf_.Text(doc="file stem, e.g. Abyssinian_1"),
            "segmentation": {"class": {
                "encoded": tf_.Image(shape=(None, None, 1), encoding_format="png",
                                     use_colormap=True,
                                     doc=mask_doc),
                "format": tf_.Text(doc='"png"'),
            }},
            "class": {"label": scalar("breed CLASS-ID 1..37, -1 if unknown")},
            "species": scalar("1 cat, 2 dog, -1 if unknown"),
        }
    }
    features = tf_.FeaturesDict(nested)
    # Guard against a TFDS release that maps nesting to keys differently: the records would
    # then parse to nothing through TFDS, silently.
    keys = _flatten(features.get_serialized_info())
    if keys != set(F.BYTES_KEYS + F.INT_KEYS):
        raise RuntimeError(f"TFDS feature keys {sorted(keys)} do not match the record keys "
                           f"{sorted(F.BYTES_KEYS + F.INT_KEYS)}")
    return features


def _flatten(tree, prefix=""):
    """Nested dict -> set of "a/b/c" leaf keys (TFDS's own flattening rule)."""
    keys = set()
    for name, value in tree.items():
        path = f"{prefix}{name}"
        keys |= _flatten(value, path + "/") if isinstance(value, dict) else {path}
    return keys


def write_tfds_metadata(records_dir, manifest, *, display_name=None):
    """Write features.json and dataset_info.json into `records_dir` (beside the shards).

    Args:
      records_dir: folder holding the shards named `{prefix}-{split}.tfrecord-XXXXX-of-YYYYY`
        (the converter calls this on its temporary folder, before the final rename).
      manifest: the manifest dict of that folder (split sizes and shard lengths are taken from it).
      display_name: the folder named in warnings (the converter passes its final output folder,
        not the temporary one it writes into).

    Returns:
      list of written paths, or [] (with a warning) when TFDS cannot read this record set:
      gzip-compressed shards (TFDS reads uncompressed TFRecords only) or a prefix that is not a
      valid TFDS dataset name.
    """
    import tensorflow_datasets as tfds
    from etils import epath
    from tensorflow_datasets.core import naming

    prefix = manifest.get("prefix", "pets")
    shown = display_name or records_dir
    if manifest.get("compression", "none") != "none":
        warnings.warn(f"{shown}: TFDS metadata not written: TFDS cannot read "
                      f"{manifest['compression']}-compressed shards (build with compression "
                      "'none' to read the set through tfds.builder_from_directory)", stacklevel=2)
        return []
    if not naming.is_valid_dataset_name(prefix):
        warnings.warn(f"{shown}: TFDS metadata not written: prefix {prefix!r} is not a "
                      "valid TFDS dataset name (use letters, digits and underscores)",
                      stacklevel=2)
        return []
    fmt = manifest.get("format", "pets")
    if fmt == "pets":
        mask_doc = ()
        description = ("Oxford-IIIT Pet images with trimaps, written by segkit "
                       "(records readable by segkit, TF Model Garden and TFDS).")
    else:
        classes = manifest.get("classes") or []
        mask_doc = (f"train ids 0..{len(classes) - 1} ({', '.join(classes[:8])}"
                    f"{', ...' if len(classes) > 8 else ''}), 255 ignore",)
        description = (f"A {fmt} dataset converted by segkit: {len(classes)} classes, masks of "
                       "train ids (records readable by segkit, TF Model Garden and TFDS).")
    template = naming.ShardedFileTemplate(
        data_dir=epath.Path(records_dir), template=naming.DEFAULT_FILENAME_TEMPLATE,
        dataset_name=prefix, filetype_suffix="tfrecord")
    split_infos = [
        tfds.core.SplitInfo(name=split, shard_lengths=[s["num_examples"] for s in info["shards"]],
                            num_bytes=sum(s.get("bytes", 0) for s in info["shards"]),
                            filename_template=template.replace(split=split))
        for split, info in sorted(manifest["splits"].items()) if info["shards"]]
    tfds.folder_dataset.write_metadata(
        data_dir=epath.Path(records_dir), features=pets_features(*mask_doc), split_infos=split_infos,
        filename_template=template, version="1.0.0", check_data=False,
        description=description,
        homepage=HOMEPAGE, citation=CITATION)
    return [os.path.join(records_dir, name) for name in TFDS_FILES]
