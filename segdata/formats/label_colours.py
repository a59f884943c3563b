"""Label lists with colours, as mask tools write them, -> classes, palette and colour table.

    labelmap.txt       name:r,g,b:parts:actions      CVAT / Datumaro VOC ("background:::" when
                                                     no colour was set)
    label_colors.txt   r g b name                    CamVid, Datumaro's cityscapes / camvid

`resolve` turns the lines into the dataset's classes (in file order), its palette and the
(r, g, b, train id) table a colour mask is read through:
- a line named like ignore (ignore, ignored, void, boundary, dontcare) or, in labelmap.txt,
  holding VOC's boundary colour (224, 224, 192) is the ignore value (255), not a class;
- lines without a colour take the VOC colour map entry of their line index, as Datumaro's
  importer does; the summary names the fallback.
"""

from segdata.formats import base
from segdata.io import fsio

VOC_BOUNDARY = (224, 224, 192)  # index 255 of the VOC palette: object boundaries, ignore
BACKGROUND = "background"
IGNORE_NAMES = ("ignore", "ignored", "void", "boundary", "dontcare", "don't care")


def is_ignore(name, rgb, voc=True):
    """True for a label line that means "ignore these pixels": named like ignore, or (`voc`,
    a labelmap.txt) holding VOC's boundary colour."""
    return name.strip().lower() in IGNORE_NAMES or (voc and tuple(rgb or ()) == VOC_BOUNDARY)


def read_text(path):
    try:
        return fsio.read_bytes(path).decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise base.FormatError(f"{path} is not UTF-8 text ({e})") from None


def parse_rgb(text):
    """"r,g,b" or "r g b" -> (r, g, b); raises ValueError."""
    rgb = tuple(int(v) for v in text.replace(",", " ").split())
    if len(rgb) != 3 or not all(0 <= v <= 255 for v in rgb):
        raise ValueError(text)
    return rgb


def parse_label_colors(path):
    """label_colors.txt (`r g b name` a line; a line holding only a name has no colour) ->
    (names, [(r, g, b) or None]). Raises FormatError naming file and line."""
    names, colours = [], []
    for lineno, line in enumerate(read_text(path).splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        try:
            if len(fields) >= 4 and all(f.isdigit() for f in fields[:3]):
                rgb, name = parse_rgb(" ".join(fields[:3])), " ".join(fields[3:])
            elif any(f.isdigit() for f in fields[:3]):
                raise ValueError(line)
            else:
                rgb, name = None, line
        except ValueError:
            raise base.FormatError(f"{path}:{lineno}: expected 'r g b name' with r, g, b in "
                                   f"0..255, got {line!r}; fix this line") from None
        names.append(name)
        colours.append(rgb)
    if not names:
        raise base.FormatError(f"{path} names no label; export the dataset again")
    return names, colours


def datumaro_order(names, colours, black_first):
    """label_colors.txt lines -> (names, colours) in mask-value order, as Datumaro (and so
    CVAT) writes and reads them: when no label has colour (0, 0, 0), a "background" label
    (added if absent) is value 0 and the lines follow; with `black_first` (CamVid) the black
    label is moved to value 0 too."""
    names, colours = list(names), list(colours)
    black = next((i for i, c in enumerate(colours) if c == (0, 0, 0)), None)
    if black is None:
        if BACKGROUND not in names:
            names.append(BACKGROUND)
            colours.append((0, 0, 0) if any(c is not None for c in colours) else None)
        black = names.index(BACKGROUND)
    elif not black_first:
        return names, colours
    order = [black] + [i for i in range(len(names)) if i != black]
    return [names[i] for i in order], [colours[i] for i in order]


def resolve(path, names, colours, voc=True):
    """Label lines -> (classes, palette [[r, g, b]], colour table ((r, g, b, train id), ...),
    warnings [str]). voc: VOC's boundary colour marks an ignore line (labelmap.txt).

    Raises FormatError naming `path` for a repeated name or colour (after the fallback), or a
    file that names no class.
    """
    given = {rgb: i for i, rgb in enumerate(colours) if rgb is not None}
    voc = base.default_palette(256)
    resolved, fallback = [], []
    for i, (name, rgb) in enumerate(zip(names, colours)):
        if rgb is None:
            rgb = VOC_BOUNDARY if is_ignore(name, None) else tuple(voc[i])
            if not is_ignore(name, None):
                fallback.append(name)
            if rgb in given:
                raise base.FormatError(
                    f"{path}: label {name!r} has no colour and its VOC colour map entry {rgb} "
                    f"is the colour of {names[given[rgb]]!r}; give {name!r} a colour")
        resolved.append(rgb)
    seen, classes, palette, table, ignored = {}, [], [], [], []
    for name, rgb in zip(names, resolved):
        for key, what in ((name, "name"), (rgb, "colour")):
            if key in seen:
                raise base.FormatError(f"{path}: {what} {key} is given twice ({seen[key]!r} and "
                                       f"{name!r}); every label needs its own name and colour")
            seen[key] = name
        if is_ignore(name, rgb, voc):
            ignored.append(name)
            table.append((*rgb, base.IGNORE_LABEL))
        else:
            table.append((*rgb, len(classes)))
            classes.append(name)
            palette.append(list(rgb))
    if not classes:
        raise base.FormatError(f"{path} names no class (only ignore labels {ignored})")
    warnings = []
    if fallback:
        warnings.append(f"{path}: {len(fallback)} label(s) have no colour ({', '.join(fallback[:10])}"
                        f"{' ...' if len(fallback) > 10 else ''}); the VOC colour map by line "
                        "index is used for them, as Datumaro does")
    if ignored:
        warnings.append(f"{path}: {', '.join(repr(n) for n in ignored)} read as the ignore "
                        "value 255, not as a class")
    return classes, palette, tuple(table), warnings
