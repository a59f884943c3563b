"""Assign sample names to splits: the official Pets lists or the chapter's holdout split.

Both functions return `{split_name: [stem, ...]}` in the order samples are written. Nothing
here looks at file contents: samples that later fail validation are dropped from whichever split
they fell in, so the split membership of every other sample never depends on the mess.
"""

import random

SPLITS = ("official", "holdout")


def holdout_split(image_names, val_size, seed):
    """The chapter's split: shuffle the sorted `images/*.jpg` list, last `val_size` -> validation.

    Reproduces `random.Random(seed).shuffle(sorted_paths)`; `paths[:-val_size]` / `[-val_size:]`
    from Deep Learning with Python (3rd ed.), chapter 11. Sorting paths that share a folder equals
    sorting file names, and the shuffle only depends on the list length, so using stems is exact.

    Args:
      image_names: stems of every `images/*.jpg` (undecodable ones included, as in the chapter).
      val_size: int, 1 <= val_size < len(image_names).
      seed: int seed for random.Random.
    """
    names = sorted(image_names, key=lambda n: n + ".jpg")
    if not 0 < val_size < len(names):
        raise ValueError(f"--val-size must be between 1 and {len(names) - 1} for {len(names)} "
                         f"images, got {val_size}")
    random.Random(seed).shuffle(names)
    return {"train": names[:-val_size], "validation": names[-val_size:]}


def official_split(lists, image_names):
    """trainval.txt -> "train", test.txt -> "test", in list-file order.

    Args:
      lists: list-file name -> stems (PetsLayout.lists).
      image_names: stems present in images/.
    Returns:
      (splits, missing, unlisted): `missing` maps stem -> list file for listed names without an
      image; `unlisted` are image stems named by neither list (kept out of both splits).
    """
    absent = [f for f in ("trainval.txt", "test.txt") if f not in lists]
    if absent:
        raise ValueError(f"--split official needs annotations/{' and annotations/'.join(absent)}; "
                         "extract annotations.tar.gz next to images/, or use --split holdout")
    present = set(image_names)
    splits, missing, listed = {}, {}, set()
    for split, list_name in (("train", "trainval.txt"), ("test", "test.txt")):
        names = []
        for name in lists[list_name]:
            if name in listed:
                continue  # a name in both lists goes to the first (train) only: no leakage
            listed.add(name)
            if name in present:
                names.append(name)
            else:
                missing[name] = list_name
        splits[split] = names
    unlisted = [n for n in image_names if n not in listed]
    return splits, missing, unlisted
