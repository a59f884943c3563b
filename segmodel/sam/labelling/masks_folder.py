"""Write class-aware labels as a `masks`-layout folder plus COCO instances, one accept at a time.

  OUT/images/NAME.jpg              the photo (a JPEG keeps its bytes; others become JPEG q95)
  OUT/masks/NAME.png               8-bit single-channel PNG of train ids: 0 background, 1..K
                                   the classes, objects painted in order (later on top); 255
                                   on the optional ignore band around each object's edge
  OUT/classes.json                 {"classes": ["background", ...], "ignore_label": 255,
                                   "palette": [[r, g, b], ...]}
  OUT/dataset_meta.json            the same classes for Datumaro, whose
                                   `common_semantic_segmentation` importer then reads the
                                   folder as it is (`ClassList.datumaro_meta`)
  OUT/prompts.json                 image file name -> the prompts its mask came from
  OUT/annotations/instances.json   COCO instances (file_name relative to images/), one
                                   annotation per object (`coco_output`): the pixels the
                                   object shows in the mask (no overlaps, no ignore band)
  OUT/annotations/parts/NAME.json  the image's part of the two JSON files (the source of truth)

`write` checks and paints an accept first (`masks_accept.prepare_accept`: nothing is written
when it fails). Cost per accept is bounded by the image, not the folder: `write` writes the
image, the mask and the image's part (bytes independent of how many images the folder
holds). prompts.json and instances.json are derived from the parts: rebuilt inside `write`
(refresh_seconds 0, what the labelling page uses), or at most once per `refresh_seconds` in
a background timer, and on `close`. A rebuild serialises only the parts that changed and
joins the cached JSON text of the others, so it is one file write over the folder (a few ms
at 1,000 images). A folder opened with stale derived files (a killed process) rebuilds them
at once.

Consistency: every file is written to a temporary name and renamed. One accept's renames
(image, mask, part) are listed first in a journal (parts/journal/NAME.json), which the next
writer to take the lock replays if a process was killed between them, so an image, its mask
and its part always belong to the same accept. Writers are serialised by a thread lock and
an fcntl file lock (parts/.lock), so two page tabs, threads or processes accepting the same
image leave the last accept's image, mask and part, and flush builds both JSON files from
one snapshot of the parts. Crash safety is against a killed process, not power loss (no fsync).
"""

import json
import pathlib
import threading

import numpy as np

from segdata.formats.pets.labelled import sample_name, trimap_from_mask
from segdata.io.atomic import write_json_atomic, write_text_atomic
from segmodel.sam.labelling import coco_output, journal
from segmodel.sam.labelling.classes import COCO_ID_OFFSET, folder_classes
from segmodel.sam.labelling.masks_accept import prepare_accept


class MasksFolder:
    """A `masks`-layout output folder (module docstring) that images are accepted into.

    Example:
      folder = MasksFolder("labelled/", ClassList(("cat", "dog")), ignore_width=2)
      folder.write("a.png", "photos/a.png", [{"mask": m1, "class": "cat", "score": 0.9,
                                             "prompt": {"box": [...], "class": "cat"}}],
                   prompts={"objects": [...]})
      folder.close()   # or `with MasksFolder(...) as folder:`

    Args:
      out_dir: the folder (created on demand).
      classes: a `ClassList`; None reads OUT/classes.json. Given classes must equal those of
        an existing classes.json (one folder, one class list).
      ignore_width: int >= 0, see `paint_mask`.
      refresh_seconds: rebuild prompts.json and instances.json at most this long after an
        accept (background timer); 0 rebuilds inside every `write` (the labelling page: the
        JSON files are current when an accept answers; a rebuild joins cached text, see
        `_rebuild`); None only on `flush` / `close`.

    Attributes:
      accept_stats: {"files": n, "bytes": n} written by `write` calls (not by flush): what
        bounds an accept's cost.
    """

    def __init__(self, out_dir, classes=None, ignore_width=0, refresh_seconds=1.0):
        self.root = pathlib.Path(out_dir).expanduser().resolve()
        if self.root.exists() and not self.root.is_dir():
            raise ValueError(f"output folder {self.root} exists and is not a folder; choose "
                             "another path")
        trimap_from_mask(np.zeros((1, 1), bool), ignore_width)  # validates the width
        self.ignore_width = int(ignore_width)
        self.refresh_seconds = refresh_seconds
        self.images_dir, self.masks_dir = self.root / "images", self.root / "masks"
        self.annotations_dir = self.root / "annotations"
        self.parts_dir = self.annotations_dir / "parts"
        self.journal_dir = self.parts_dir / "journal"
        self.classes = folder_classes(self.root, classes)
        self.accept_stats = {"files": 0, "bytes": 0}
        self._lock = threading.RLock()
        self._timer = None
        self._dirty = False  # accepted since the last rebuild
        self._parts = {}  # stem -> (stat key, part dict): parts read so far
        # parts/'s mtime when self._parts last matched the disk: an accept that finds it
        # unchanged (no other process wrote) updates self._parts alone instead of re-listing.
        self._parts_stamp = None
        self._texts = coco_output.JsonTexts(default=coco_output.jsonable,
                                            category_offset=COCO_ID_OFFSET)
        with self._locked():
            self._drop_orphans()
            if self._stale():
                self._rebuild()

    # -- setup -------------------------------------------------------------------------
    def _locked(self):
        """The folder's thread and file locks, killed accepts' journals replayed
        (segmodel.sam.labelling.journal)."""
        return journal.locked(self._lock, self.parts_dir / ".lock", self.journal_dir)

    def _drop_orphans(self):
        """Write classes.json and dataset_meta.json if missing; delete temporaries of accepts
        killed before their journal (safe: temporaries only exist while their writer holds
        the file lock)."""
        for name, content in (("classes.json", self.classes.to_json),
                              ("dataset_meta.json", self.classes.datumaro_meta)):
            if not (self.root / name).is_file():
                write_json_atomic(self.root / name, content())
        journal.drop_temporaries((self.images_dir, self.masks_dir, self.parts_dir,
                                  self.journal_dir))

    # -- state -------------------------------------------------------------------------
    def _part_path(self, stem):
        return self.parts_dir / f"{stem}.json"

    def _paths(self, stem):
        return self.images_dir / f"{stem}.jpg", self.masks_dir / f"{stem}.png"

    def is_labelled(self, name):
        """True when the image's part, image and mask exist."""
        stem = sample_name(name)
        return self._part_path(stem).is_file() and all(p.is_file() for p in self._paths(stem))

    def labelled(self):
        """Sample names (stems) of every labelled image, sorted."""
        return sorted(p.stem for p in self._part_files() if self.is_labelled(p.stem))

    def _part_files(self):
        return self.parts_dir.glob("[!.]*.json")  # not .built.json nor temporaries

    def prompts(self, name):
        """The prompts recorded for the image (JSON dict as written), or None."""
        part = self.part(name)
        return None if part is None else part.get("prompts")

    def part(self, name):
        """The image's part as written ({"image", "annotations" (COCO, without ids),
        "prompts", "token"}), or None. Parts are replaced by rename, so this reads one
        accept's part whole, even while another accept of the same image runs."""
        try:
            return json.loads(self._part_path(sample_name(name)).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None

    def _scan(self):
        """Read changed parts (cached by stat) -> {stem: part}: one snapshot under the lock."""
        seen = {}
        for path in self._part_files():
            stat = path.stat()
            key = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
            cached = self._parts.get(path.stem)
            if cached is None or cached[0] != key:
                cached = (key, json.loads(path.read_text(encoding="utf-8")))
            seen[path.stem] = cached
        self._parts = seen
        return {stem: part for stem, (_, part) in seen.items()}

    def _stamp(self):
        try:
            return self.parts_dir.stat().st_mtime_ns
        except FileNotFoundError:
            return None

    def _known_parts(self):
        """{stem: part} of every part: from memory when nothing but this object changed the
        parts since the last listing, else from a fresh listing (another process wrote)."""
        if self._parts_stamp is not None and self._parts_stamp == self._stamp():
            return {stem: part for stem, (_, part) in self._parts.items()}
        return self._scan()

    def _stale(self):
        built = self.parts_dir / ".built.json"
        tokens = {stem: part["token"] for stem, part in self._scan().items()}
        try:
            return json.loads(built.read_text(encoding="utf-8")) != tokens
        except (OSError, ValueError):
            return bool(tokens) or not (self.annotations_dir / "instances.json").is_file()

    def _rebuild(self):
        """Write instances.json and prompts.json from the parts (one snapshot under the lock).

        The texts come from `coco_output.JsonTexts`, which re-serialises only the parts that
        changed: one pass of string joins and one file write over the folder, a few
        milliseconds at 1,000 images (benchmarks/bench_label.py).
        """
        parts = self._known_parts()
        write_text_atomic(self.annotations_dir / "instances.json",
                          self._texts.instances(parts, self.classes.coco_categories()))
        write_text_atomic(self.root / "prompts.json", self._texts.prompts(parts))
        # Last: says the two files above describe exactly these parts.
        tokens = {stem: part["token"] for stem, part in sorted(parts.items())}
        write_text_atomic(self.parts_dir / ".built.json", json.dumps(tokens))  # C encoder
        self._parts_stamp = self._stamp()  # self._parts matches the disk (under the lock)
        self._dirty = False

    def flush(self):
        """Rebuild prompts.json and instances.json from every part now (O(folder))."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            with self._locked():
                self._rebuild()

    def close(self):
        """Stop the timer; rebuild the derived files if anything was accepted since the last
        rebuild (a resumed run that accepted nothing changes no file)."""
        with self._lock:
            if self._dirty or self._timer is not None:
                self.flush()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _schedule(self):
        self._dirty = True
        if self.refresh_seconds == 0:
            self._rebuild()
        elif self.refresh_seconds is not None and self._timer is None:
            self._timer = threading.Timer(self.refresh_seconds, self.flush)
            self._timer.daemon = True
            self._timer.start()

    # -- accept ------------------------------------------------------------------------
    def write(self, name, image_path, objects, *, prompts=None):
        """Accept one image: copy it, write its mask and its part (replacing an earlier label).

        Args:
          name: the image's file name or sample name; the sample is its stem.
          image_path: the photo to copy.
          objects: list of dicts in painting order: "mask" bool `[H, W]` at the image's
            size; "class" (a class name, None = the first class) or "category_id" (1..K);
            optional "score" (float) and "prompt" (JSON-able) for the COCO annotation.
          prompts: optional JSON-able dict recorded in prompts.json under "NAME.jpg".

        Returns:
          The mask's path relative to OUT, "masks/NAME.png".

        Raises:
          ValueError: naming the image, when every mask is empty (never written), a mask has
            the wrong size, a class is unknown, the image is unreadable or its name unusable
            (`masks_accept.prepare_accept`, before anything is written).
        """
        stem, jpeg, mask_png, part = prepare_accept(name, image_path, objects, self.classes,
                                                    self.ignore_width, prompts)
        image_out, mask_out = self._paths(stem)
        part_text = json.dumps(part, default=coco_output.jsonable) + "\n"
        payloads = [(image_out, jpeg), (mask_out, mask_png),
                    (self._part_path(stem), part_text.encode("utf-8"))]
        with self._locked():
            unchanged = self._parts_stamp is not None and self._parts_stamp == self._stamp()
            self._commit(stem, part["token"], payloads)
            if unchanged:  # only this accept changed parts/ since the last listing
                stat = self._part_path(stem).stat()
                self._parts[stem] = ((stat.st_mtime_ns, stat.st_size, stat.st_ino), part)
                self._parts_stamp = self._stamp()
            else:
                self._parts_stamp = None
            self._schedule()
        return f"masks/{stem}.png"

    def _commit(self, stem, token, payloads):
        """Temporaries, journal, renames, journal removed: one accept, all or nothing."""
        self.images_dir.mkdir(parents=True, exist_ok=True)
        self.masks_dir.mkdir(parents=True, exist_ok=True)
        journal.commit(self.journal_dir, stem, token, payloads, self.accept_stats)
