"""Listing helpers the folder readers share (masks, voc, cityscapes, ade20k): what junk is,
a data folder's root, one folder listing, split list names and contents."""

import os
import posixpath
import re
import shlex

from segdata.formats.base import FormatError, read_split_list
from segdata.io import fsio

JUNK_NAMES = ("thumbs.db", "desktop.ini")
_SPLIT_NAMES = {"train": "train", "val": "validation", "validation": "validation", "test": "test"}


def is_junk(name):
    """Names that are never data: dot files (.DS_Store, macOS `._x` forks), Thumbs.db, desktop.ini."""
    return name.startswith(".") or name.lower() in JUNK_NAMES


def clean_root(root):
    """A data folder argument -> str: absolute for local paths, no trailing "/" for URLs."""
    if fsio.is_remote(root):
        return str(root).rstrip("/")
    return os.path.abspath(os.path.expanduser(str(root)))


def list_folder(root, rel):
    """One listing of folder root/rel -> (file names, sub-folder names, junk paths relative to
    root), each sorted. A folder that does not exist lists as empty."""
    folder = fsio.join(root, *rel.split("/"))
    if not fsio.isdir(folder):
        return [], [], []
    files, dirs, junk = [], [], []
    for name, is_file in fsio.scandir(folder):
        if is_junk(name):
            junk.append(f"{rel}/{name}")
        elif is_file:
            files.append(name)
        else:
            dirs.append(name)
    return files, dirs, junk


def list_tree(root, rel):
    """Every file under root/rel, sub-folders included -> (paths relative to rel in posix form,
    e.g. "batch_a/img_00.png", junk paths relative to root), each sorted. CVAT writes ids with
    folders ("batch_a/img_00") when a task's images sit in folders."""
    files, dirs, junk = list_folder(root, rel)
    for sub in dirs:
        inner, inner_junk = list_tree(root, f"{rel}/{sub}")
        files += [f"{sub}/{f}" for f in inner]
        junk += inner_junk
    return sorted(files), sorted(junk)


def split_name(list_path):
    """A split list's path (relative to the data folder) -> TFDS split name: train.txt ->
    "train", val.txt -> "validation", test.txt -> "test"; another plain name is kept (lower
    case). Raises FormatError naming `list_path` for a name that cannot be a split name."""
    stem = list_path.rsplit("/", 1)[-1]
    stem = (stem[:-len(".txt")] if stem.endswith(".txt") else stem).lower()
    if stem in _SPLIT_NAMES:
        return _SPLIT_NAMES[stem]
    if not re.fullmatch(r"[a-z][a-z0-9_]*", stem):
        raise FormatError(f"{list_path}: a split list's name must be letters, digits and '_' "
                          "(it becomes the split's name); rename it, e.g. train.txt or val.txt")
    return stem


def read_names(root, rel):
    """The names a split list root/rel holds, in order (segdata.formats.base.read_split_list:
    CRLF, trailing spaces, blank lines and a UTF-8 byte-order mark are fine)."""
    return read_split_list(_text(root, rel))


def read_pairs(root, rel):
    """A list of `image mask` pairs (or of names) -> [tuple of fields (posix paths)], in order.

    Paths are relative to root; a leading "/" (Datumaro's CamVid lists) is dropped, and a path
    holding spaces is quoted. Raises FormatError naming a line that cannot be split.
    """
    pairs = []
    for lineno, line in enumerate(_text(root, rel).splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            fields = shlex.split(line.replace("\\", "/"))  # Windows separators, not escapes
        except ValueError:
            fields = []
        if not fields:
            raise FormatError(f"{root}/{rel}:{lineno}: expected a name or 'image mask' (two "
                              f"paths relative to {root}), got {line!r}")
        pairs.append(tuple(posixpath.normpath(f.lstrip("/")) for f in fields))
    return pairs


def is_pair(fields):
    """True for an `image mask` line: two fields, both file paths with an extension, whose
    stems differ or that sit in different folders."""
    return len(fields) == 2 and all("." in posixpath.basename(f) for f in fields)


def _text(root, rel):
    try:
        return fsio.read_bytes(fsio.join(root, *rel.split("/"))).decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise FormatError(f"{root}/{rel} is not UTF-8 text ({e}); a list holds one sample "
                          "name (or one 'image mask' pair) a line") from None


def unique(names):
    """`names` without repeats, first occurrence kept (list)."""
    return list(dict.fromkeys(names))


def ordered_splits(splits):
    """{split: names} with train, validation, test first (then the others by name)."""
    rank = {"train": 0, "validation": 1, "test": 2}
    return {s: splits[s] for s in sorted(splits, key=lambda s: (rank.get(s, 3), s))}
