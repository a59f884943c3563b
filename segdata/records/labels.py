"""Class ids: THE one place where stored mask values become the train ids models see.

Every record set's manifest carries a `label_map` (stored value -> train id). Pets records keep
the trimaps as stored (1 foreground, 2 background, 3 outline), so their map is the chapter's
`mask - 1` ({1: 0, 2: 1, 3: 2}); every other format stores train ids and its map is the
identity. Everything that needs train ids calls `to_train_ids` with the manifest's
`label_table`, so the mapping happens exactly once; any value the map does not name becomes
IGNORE_LABEL.
"""

NUM_CLASSES = 3
LABEL_NAMES = ("foreground", "background", "outline")
LABEL_OFFSET = 1  # trimap value of class 0; the manifest records it as "label_offset"
# Pets class colours (manifest "palette"): matplotlib's tab10 blue, orange, green, the colours
# predicted masks and overlays have always used.
PETS_PALETTE = ((31, 119, 180), (255, 127, 14), (44, 160, 44))

# Pixels that carry no label: padding added by `resize="pad"` and by zoom-out augmentation, and any
# stored value outside 1..3. Losses and metrics in `segmodel` skip them. 255 keeps masks uint8 and
# matches the DeepLab / Model Garden convention.
IGNORE_LABEL = 255

# The Oxford-IIIT Pet breeds (list.txt's CLASS-ID 1..37 in this order: cats capitalised, dogs
# lower case, sorted case-insensitively) and the header its list files begin with.
CATS = ("Abyssinian", "Bengal", "Birman", "Bombay", "British_Shorthair", "Egyptian_Mau",
        "Maine_Coon", "Persian", "Ragdoll", "Russian_Blue", "Siamese", "Sphynx")
DOGS = ("american_bulldog", "american_pit_bull_terrier", "basset_hound", "beagle", "boxer",
        "chihuahua", "english_cocker_spaniel", "english_setter", "german_shorthaired",
        "great_pyrenees", "havanese", "japanese_chin", "keeshond", "leonberger",
        "miniature_pinscher", "newfoundland", "pomeranian", "pug", "saint_bernard", "samoyed",
        "scottish_terrier", "shiba_inu", "staffordshire_bull_terrier", "wheaten_terrier",
        "yorkshire_terrier")
BREEDS = tuple(sorted(CATS + DOGS, key=str.lower))
LIST_HEADER = ("#Image CLASS-ID SPECIES BREED ID\n#ID: 1:37 Class ids\n#SPECIES: 1:Cat 2:Dog\n"
               "#BREED ID: 1-25:Cat 1:12:Dog\n#All images with 1st letter as captial are cat "
               "images\n#images with small first letter are dog images\n")


def breed_info(breed):
    """(CLASS-ID 1..37, SPECIES 1 cat / 2 dog, BREED-ID within species) for a breed name."""
    species_list = CATS if breed in CATS else DOGS
    return BREEDS.index(breed) + 1, 1 if breed in CATS else 2, species_list.index(breed) + 1


def label_table(manifest):
    """The manifest's stored value -> train id map as a 256-entry list (int), 255 elsewhere.

    Uses `label_map` ({str(stored value): train id}); manifests written before it existed
    (Pets only) give `label_offset` and `num_classes` instead.
    """
    table = [IGNORE_LABEL] * 256
    label_map = manifest.get("label_map")
    if label_map is None:
        offset = int(manifest.get("label_offset", LABEL_OFFSET))
        label_map = {str(offset + c): c for c in range(int(manifest.get("num_classes",
                                                                        NUM_CLASSES)))}
    for stored, train_id in label_map.items():
        if 0 <= int(stored) < 256:
            table[int(stored)] = int(train_id)
    return table


def pets_label_map(label_offset=LABEL_OFFSET, num_classes=NUM_CLASSES):
    """{str(trimap value): class id} of Pets records: {"1": 0, "2": 1, "3": 2}."""
    return {str(label_offset + c): c for c in range(num_classes)}


def to_train_ids(mask, table):
    """Stored mask values -> train ids.

    Args:
      mask: uint8 tensor of any shape (e.g. [H, W, 1]), stored values 0..255.
      table: 256 ints (see `label_table`): stored value -> train id or IGNORE_LABEL.

    Returns:
      uint8 tensor, same shape: table[value]. A value the table does not name is IGNORE_LABEL,
      never a neighbouring class.
    """
    import tensorflow as tf

    return tf.gather(tf.constant(table, tf.uint8), tf.cast(mask, tf.int32))


def trimap_to_class_ids(trimap, label_offset=LABEL_OFFSET, num_classes=NUM_CLASSES):
    """Stored trimap values -> class ids.

    Args:
      trimap: uint8 tensor of any shape (e.g. [H, W, 1]), values label_offset..label_offset+2.
      label_offset: the manifest's "label_offset" (1 for Pets trimaps).
      num_classes: number of valid classes (3).

    Returns:
      uint8 tensor, same shape: value - label_offset, or IGNORE_LABEL where the stored value is
      not a valid class (a plain `- 1` would wrap a stray 0 around to 255 only by accident, and
      a stray 4 would silently become class 3).
    """
    import tensorflow as tf

    ids = tf.cast(trimap, tf.int32) - label_offset
    valid = (ids >= 0) & (ids < num_classes)
    return tf.cast(tf.where(valid, ids, IGNORE_LABEL), tf.uint8)



def dataset_classes(manifest):
    """(class names in train-id order, foreground train id or None) of a record set.

    Manifests written before "classes" existed are Pets sets: LABEL_NAMES, foreground 0.
    """
    names = manifest.get("classes") or manifest.get("label_names") or list(LABEL_NAMES)
    if "foreground_class" in manifest:
        return list(names), manifest["foreground_class"]
    return list(names), (0 if list(names) == list(LABEL_NAMES) else None)
