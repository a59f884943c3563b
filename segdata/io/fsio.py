"""File access for the source folder: local paths through os, URLs (gs://, s3://, ...) through
tf.io.gfile.

Local paths never import TensorFlow, so the local converter's worker processes stay light;
a URL imports it on first use (Beam workers, which write with TensorFlow anyway).
"""

import hashlib
import os
import uuid


def sha256_file(path):
    """Hex SHA-256 of a file, read in 1 MiB blocks (shards, archives, exported models)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def is_remote(path):
    """True for a URL such as gs://bucket/pets (any scheme TensorFlow's filesystems know)."""
    return "://" in str(path)


def _gfile():
    import tensorflow as tf

    return tf.io.gfile


def join(root, *parts):
    """`root/part/...` (str); for URLs, forward slashes whatever the OS."""
    if is_remote(root):
        return "/".join([str(root).rstrip("/")] + list(parts))
    return os.path.join(str(root), *parts)


def isdir(path):
    return _gfile().isdir(path) if is_remote(path) else os.path.isdir(path)


def isfile(path):
    if is_remote(path):
        return _gfile().exists(path) and not _gfile().isdir(path)
    return os.path.isfile(path)


def exists(path):
    return _gfile().exists(path) if is_remote(path) else os.path.exists(path)


def scandir(path):
    """-> sorted [(name, is_file)] of the entries of folder `path`, one listing call (object
    stores mark sub-folders with a trailing "/", so no per-file stat is needed)."""
    if is_remote(path):
        return sorted((name.rstrip("/"), not name.endswith("/"))
                      for name in _gfile().listdir(path))
    with os.scandir(path) as entries:
        return sorted((e.name, e.is_file()) for e in entries)


def read_bytes(path):
    if is_remote(path):
        with _gfile().GFile(path, "rb") as fh:
            return fh.read()
    with open(path, "rb") as fh:
        return fh.read()


def _open(path, mode):
    return _gfile().GFile(path, mode) if is_remote(path) else open(path, mode)


def write_bytes(path, data):
    """Write `data` under a unique staging name beside `path`, then rename it onto `path`: a
    retried or concurrent writer (a Beam bundle run twice) never leaves a half-written file."""
    stage = f"{path}.tmp-{uuid.uuid4().hex}"
    with _open(stage, "wb") as fh:
        fh.write(data)
    if is_remote(path):
        _gfile().rename(stage, path, overwrite=True)
    else:
        os.replace(stage, path)


def sha256_and_size(path):
    """-> (hex SHA-256, size in bytes) of a file, read in 1 MiB blocks."""
    h, size = hashlib.sha256(), 0
    with _open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
            size += len(block)
    return h.hexdigest(), size


def total_size(paths):
    """Sum of the sizes (bytes) of the files in `paths` that exist.

    Object stores answer one stat per request, so URLs are stat'ed from a thread pool.
    """
    paths = list(paths)
    if not any(is_remote(p) for p in paths):
        total = 0
        for path in paths:
            try:
                total += os.path.getsize(path)
            except OSError:
                pass
        return total
    from concurrent.futures import ThreadPoolExecutor

    def size(path):
        try:
            return _gfile().stat(path).length
        except Exception:  # noqa: BLE001 - tf.errors.NotFoundError and friends: a missing file
            return 0

    with ThreadPoolExecutor(32) as pool:
        return sum(pool.map(size, paths))
