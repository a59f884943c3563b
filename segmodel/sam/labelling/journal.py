"""All-or-nothing writes of several files, for one labelled image (segmodel.sam.labelling
.masks_folder): temporaries, a journal of the renames, the renames, the journal removed.

A process killed between two renames leaves a journal whose temporaries are complete; the
next writer to take the folder's lock replays it, so an image, its mask and its part always
come from the same accept. Writers are serialised by a thread lock and an fcntl file lock.
"""

import contextlib
import fcntl
import json
import os


@contextlib.contextmanager
def locked(thread_lock, lock_path, journal_dir):
    """Thread lock, then the folder's file lock (flock: per open file, so it also serialises
    two writers of one process); journals of killed writers are replayed first."""
    with thread_lock:
        journal_dir.mkdir(parents=True, exist_ok=True)
        with open(lock_path, "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                replay(journal_dir)
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def replay(journal_dir):
    """Finish writes killed mid-rename (their temporaries are complete). The journal folder
    is empty but for such writes, so this costs O(1) per lock."""
    for journal in sorted(journal_dir.glob("[!.]*.json")):
        for tmp, final in json.loads(journal.read_text(encoding="utf-8")):
            if os.path.exists(tmp):
                os.replace(tmp, final)
        journal.unlink()


def commit(journal_dir, name, token, payloads, stats=None):
    """Write `payloads` ([(final pathlib.Path, bytes)]) all or nothing, under the lock.

    stats: optional {"files", "bytes"} dict, incremented by what this commit writes.
    """
    renames = []
    for final, data in payloads:
        tmp = final.parent / f".{final.name}.{token}.tmp{final.suffix}"
        tmp.write_bytes(data)
        renames.append((str(tmp), str(final)))
        _count(stats, len(data))
    journal = journal_dir / f"{name}.json"
    journal_tmp = journal_dir / f".{name}.json.{token}.tmp"
    text = json.dumps(renames)
    journal_tmp.write_text(text, encoding="utf-8")
    os.replace(journal_tmp, journal)
    _count(stats, len(text))
    for tmp, final in renames:
        os.replace(tmp, final)
    journal.unlink()


def drop_temporaries(folders):
    """Delete temporaries of writes killed before their journal (safe under the lock:
    temporaries only exist while their writer holds it)."""
    for folder in folders:
        for tmp in folder.glob(".*.tmp*") if folder.is_dir() else ():
            tmp.unlink()


def _count(stats, size):
    if stats is not None:
        stats["files"] += 1
        stats["bytes"] += size
