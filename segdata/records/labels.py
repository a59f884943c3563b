"""Class ids: THE one place where stored trimap values become the labels models see.

Records keep the Oxford-IIIT Pet trimaps as stored: 1 foreground, 2 background, 3 outline.
Models, losses and metrics see 0, 1, 2 (the chapter's `mask - 1`). Everything that needs class ids
calls `trimap_to_class_ids`, so the shift happens exactly once.
"""

NUM_CLASSES = 3
LABEL_NAMES = ("foreground", "background", "outline")
LABEL_OFFSET = 1  # trimap value of class 0; the manifest records it as "label_offset"

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

