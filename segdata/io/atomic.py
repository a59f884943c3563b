"""Write-then-rename: the one way segkit writes a file that readers may see half-written.

A reader (a server watching a folder, a resumed run, a user opening a figure) sees either the
old file or the complete new one, never a partial write.
"""

import json
import os
import pathlib
import tempfile


def atomic_write(path, write):
    """Call `write(tmp_path)`, then rename the temporary file onto `path`.

    The temporary file sits beside `path` (same filesystem, so the rename is atomic), has a
    unique name and keeps `path`'s suffix, so writers that infer the format from the extension
    (matplotlib, PIL) still work. It is removed if `write` fails.

    Returns:
      pathlib.Path of the written file.
    """
    path = pathlib.Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{path.suffix}",
                               dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def write_text_atomic(path, text):
    """Write `text` (str, UTF-8) to `path` atomically; returns the path."""
    return atomic_write(path, lambda tmp: pathlib.Path(tmp).write_text(text, encoding="utf-8"))


def write_json_atomic(path, obj, **dumps_kwargs):
    """Write `obj` as indented JSON (plus a final newline) to `path` atomically."""
    return write_text_atomic(path, json.dumps(obj, indent=2, **dumps_kwargs) + "\n")
