"""The classes of class-aware labelling: `--classes cat dog` or `--classes classes.json`.

Train id 0 is always "background"; the named classes follow in order (train ids 1..K, which
are also their 1-based COCO category ids). A prompt-file object picks its class by name
(`"class": "dog"`, default the first class), a text prompt by its text.

classes.json is the `masks` layout's own file, so a labelled folder's classes can be reused:

  {"classes": ["background", "cat", "dog"], "ignore_label": 255, "palette": [[0, 0, 0], ...]}

(a plain list ["cat", "dog"] is accepted too; "palette" is optional, default the VOC colours
of `segdata.formats.base.default_palette`).
"""

import dataclasses
import json
import pathlib

from segdata.formats.base import IGNORE_LABEL, default_palette

BACKGROUND = "background"
# instances.json category id = train id + 1, "background" being category 1: Datumaro's COCO
# importer, given the folder's dataset_meta.json (labels background first, as the masks'
# values need), reads category k as label k - 1, so these ids make both of its importers
# (common_semantic_segmentation and coco) name every object alike. segkit's COCO reader maps
# a category named background to train id 0.
COCO_ID_OFFSET = 1


def _check_names(names, where):
    if not isinstance(names, (list, tuple)) or not names:
        raise ValueError(f"{where}: give at least one class name (the classes after "
                         f"'background'), got {names!r}")
    seen = set()
    for name in names:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"{where}: class names must be non-empty strings, got {name!r}")
        if name == BACKGROUND:
            raise ValueError(f"{where}: 'background' is train id 0 already; name only the "
                             "classes after it")
        if name in seen:
            raise ValueError(f"{where}: class {name!r} is named twice")
        seen.add(name)
        if len(seen) >= IGNORE_LABEL:
            raise ValueError(f"{where}: at most {IGNORE_LABEL - 1} classes fit in an 8-bit "
                             f"mask beside background and ignore ({IGNORE_LABEL})")
    return list(names)


@dataclasses.dataclass(frozen=True)
class ClassList:
    """Classes after background, in train-id order.

    names: tuple of class names (train ids 1..K; COCO category ids 1..K).
    palette: tuple of (r, g, b) per train id 0..K (background first).
    """

    names: tuple
    palette: tuple = None

    def __post_init__(self):
        names = tuple(_check_names(list(self.names), "classes"))
        object.__setattr__(self, "names", names)
        palette = self.palette
        if palette is None:
            palette = default_palette(len(names) + 1)
        palette = tuple(tuple(int(v) for v in colour) for colour in palette)
        if len(palette) != len(names) + 1 or any(
                len(c) != 3 or not all(0 <= v <= 255 for v in c) for c in palette):
            raise ValueError(f"classes: the palette needs one [r, g, b] (0..255) per class "
                             f"including background ({len(names) + 1}), got {list(palette)}")
        object.__setattr__(self, "palette", palette)

    def __len__(self):
        return len(self.names)

    @property
    def all_names(self):
        """["background", *names]: index = train id."""
        return [BACKGROUND, *self.names]

    def train_id(self, name, where=""):
        """Train id (1..K) of a class name; None -> the first class (id 1).

        Raises:
          ValueError: naming `where` (e.g. "cat.jpg: objects[1].class") and the classes.
        """
        if name is None:
            return 1
        if name in self.names:
            return self.names.index(name) + 1
        prefix = f"{where} " if where else ""
        raise ValueError(f"{prefix}{name!r} is not one of the classes {list(self.names)}; "
                         "fix the name or add it to --classes")

    def to_json(self):
        """The `masks` layout's classes.json content."""
        return {"classes": self.all_names, "ignore_label": IGNORE_LABEL,
                "palette": [list(c) for c in self.palette]}

    def datumaro_meta(self):
        """Datumaro's dataset_meta.json content, so its `common_semantic_segmentation` importer
        reads the folder as it is: masks/ hold label indices 0..K (background first). 255, the
        ignore value, has no Datumaro field; it is kept as the extra key "ignore_label"."""
        names = self.all_names
        return {"labels": names, "label_map": {str(i): n for i, n in enumerate(names)},
                "segmentation_colors": [list(c) for c in self.palette],
                "background_label": "0", "ignore_label": IGNORE_LABEL}

    def coco_categories(self):
        """COCO "categories" of instances.json: every class, background first, as category id
        train id + COCO_ID_OFFSET ([{"id": 1, "name": "background", "supercategory": ""},
        {"id": 2, "name": <class 1>, ...}, ...])."""
        return [{"id": i + COCO_ID_OFFSET, "name": n, "supercategory": ""}
                for i, n in enumerate(self.all_names)]

    @classmethod
    def from_json(cls, data, where="classes.json"):
        """classes.json content (dict or plain list) -> ClassList; errors name `where`."""
        palette = None
        if isinstance(data, dict):
            if "classes" not in data:
                raise ValueError(f"{where}: expected {{\"classes\": [\"background\", ...]}}, "
                                 f"got keys {sorted(data)}")
            ignore = data.get("ignore_label", IGNORE_LABEL)
            if ignore != IGNORE_LABEL:
                raise ValueError(f"{where}: ignore_label must be {IGNORE_LABEL}, got {ignore!r}")
            names, palette = data["classes"], data.get("palette")
        else:
            names = data
        if isinstance(names, list) and names[:1] == [BACKGROUND]:
            names = names[1:]
            if palette is not None and not isinstance(palette, list):
                raise ValueError(f"{where}: palette must be a list of [r, g, b]")
        elif palette is not None:
            raise ValueError(f"{where}: a palette needs \"classes\" to start with "
                             "'background' (its colour comes first)")
        try:
            return cls(tuple(_check_names(names, where)), palette)
        except (TypeError, ValueError) as err:
            message = str(err).removeprefix("classes: ")
            raise ValueError(message if message.startswith(where)
                             else f"{where}: {message}") from None


def parse_classes(values):
    """`--classes` values -> ClassList (or None for no values).

    Args:
      values: None, class names ["cat", "dog"], or one path ending in .json to a
        classes.json (see the module docstring).

    Raises:
      ValueError / FileNotFoundError naming the argument or file.
    """
    if not values:
        return None
    values = list(values)
    if len(values) == 1 and values[0].lower().endswith(".json"):
        path = pathlib.Path(values[0])
        if not path.is_file():
            raise FileNotFoundError(f"--classes: classes file not found: {path}")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as err:
            raise ValueError(f"{path} is not valid JSON ({err})") from None
        return ClassList.from_json(data, str(path))
    return ClassList(tuple(_check_names(values, "--classes")))


def folder_classes(root, classes):
    """The class list of the output folder `root`: `classes` (a ClassList), or None to read
    ROOT/classes.json. Given classes must equal those of an existing classes.json (one
    folder, one class list). Raises ValueError saying what to do, TypeError for a non-ClassList.
    """
    import json
    import pathlib

    root = pathlib.Path(root)
    path = root / "classes.json"
    existing = None
    if path.is_file():
        try:
            existing = ClassList.from_json(json.loads(path.read_text(encoding="utf-8")),
                                           str(path))
        except ValueError as err:
            raise ValueError(f"{err}; fix or delete {path}") from None
    if classes is None:
        if existing is None:
            raise ValueError(f"{root} has no classes.json; give the classes "
                             "(--classes cat dog)")
        return existing
    if not isinstance(classes, ClassList):
        raise TypeError(f"classes must be a ClassList, got {type(classes).__name__}")
    if existing is not None and existing.names != classes.names:
        raise ValueError(f"{path} lists classes {list(existing.names)}, not "
                         f"{list(classes.names)}; label into another folder or give the "
                         "same classes")
    return existing or classes
