"""What a record-set build is, independent of the engine that runs it.

Both runners (`segdata.records.convert` in local processes, `segdata.records.beam_convert` on
Apache Beam) call
`plan_build` for the options, the split assignment and the shard boundaries, and `make_manifest`
for the manifest, so the two cannot disagree on which sample goes where or what is reported.
"""

import dataclasses
import os

from segdata import formats
from segdata.formats.base import CROWD_MODES
from segdata.formats.pets import layout as layout_mod
from segdata.records import labels, orientation, sharding
from segdata.records import manifest as manifest_mod
from segdata.records import splits as splits_mod

COMPRESSIONS = ("none", "gzip")


class BuildError(ValueError):
    """The build cannot proceed (bad option, output conflict); the message says what to do."""


class StrictError(BuildError):
    """--strict and at least one sample was skipped; nothing was written."""


@dataclasses.dataclass
class BuildPlan:
    """Everything decided before any sample is read.

    layout: segdata.formats.pets.layout.PetsLayout (pets) or segdata.formats.base
      .DatasetLayout (every other format) of the source folder.
    options: the manifest's "options" dict (also what a rebuild is compared against).
    plans: split -> segdata.records.sharding.SplitPlan, in write order; each holds its candidate
      samples and the shard boundaries over them.
    missing: pets: listed stem without an image -> list file; other formats: the reader's
      skip entries ({"name", "reason"}) for listed samples that cannot be built.
    unlisted: image stems in no list.
    format: the layout's name; decoder: its MaskDecoder (None for pets, whose per-sample step
      is segdata.formats.pets.samples).
    """
    layout: object
    options: dict
    plans: dict
    missing: object
    unlisted: list
    format: str = "pets"
    decoder: object = None

    @property
    def source(self):
        return str(self.layout.root)

    def missing_skips(self):
        """Skip entries (dicts) for listed samples that cannot be built, reported first."""
        if self.format != "pets":
            return [dict(entry) for entry in self.missing]
        return [{"name": n, "reason": f"listed in annotations/{f} but images/{n}.jpg is missing"}
                for n, f in self.missing.items()]

    @property
    def classes(self):
        return list(labels.LABEL_NAMES) if self.format == "pets" else list(self.layout.classes)


def _assign_splits(layout, split, val_size, seed):
    """-> ({split: [stem]}, {listed stem without image: list file}, [unlisted stems])."""
    if split == "holdout":
        return splits_mod.holdout_split(layout.image_names, val_size, seed), {}, []
    try:
        return splits_mod.official_split(layout.lists, layout.image_names)
    except ValueError as e:
        raise layout_mod.LayoutError(f"{layout.root}: {e}") from None


def _assign_dataset_splits(layout, split, val_size, seed):
    """Generic layouts -> {split: [name]} (official lists, or the holdout split)."""
    if split == "holdout":
        return splits_mod.holdout_split(layout.image_names, val_size, seed)
    if not layout.splits:
        raise BuildError(f"{layout.root} ({layout.format}) has no official split lists; pass "
                         "--split holdout to split its samples into train and validation")
    return {s: [n for n in names if n in layout.samples] for s, names in layout.splits.items()}


def plan_build(data_dir, *, split, val_size, seed, num_shards, shard_size_mb, compression,
               strict, prefix=None, format="auto", instances=False, crowd="auto",
               exif_orientation="auto"):
    """Check the options, scan `data_dir`, assign splits and fix shard boundaries -> BuildPlan.

    format: "auto" (recognise the layout from its files) or a name of segdata.formats.FORMATS;
    instances: COCO only, also write Model Garden's instance keys.
    prefix: the shards' dataset name ({prefix}-{split}.tfrecord-...); None: the format's name
      ("pets", "voc", "coco", ...).
    crowd: COCO only, what `iscrowd: 1` means (segdata.formats.coco_crowd).
    exif_orientation: "auto", "apply" or "ignore" (segdata.records.orientation; not Pets).
    Raises segdata.formats.pets.layout.LayoutError / segdata.formats.FormatError / BuildError
    (ValueError subclasses) saying what to do.
    """
    if split not in splits_mod.SPLITS:
        raise BuildError(f"--split must be one of {', '.join(splits_mod.SPLITS)}, got {split!r}")
    if compression not in COMPRESSIONS:
        raise BuildError(f"--compression must be one of {', '.join(COMPRESSIONS)}, got "
                         f"{compression!r}")
    if crowd not in CROWD_MODES:
        raise BuildError(f"--crowd must be one of {', '.join(CROWD_MODES)}, got {crowd!r}")
    if exif_orientation not in orientation.MODES:
        raise BuildError(f"--exif-orientation must be one of {', '.join(orientation.MODES)}, "
                         f"got {exif_orientation!r}")
    if prefix is not None and (not prefix or "/" in prefix or os.sep in prefix):
        raise BuildError(f"--name must be a plain file-name prefix, got {prefix!r}")
    fmt, layout = formats.scan(data_dir, format, instances=instances, crowd=crowd)
    prefix = prefix or fmt
    if fmt != "pets":
        return _plan_dataset(fmt, layout, split=split, val_size=val_size, seed=seed,
                             num_shards=num_shards, shard_size_mb=shard_size_mb,
                             compression=compression, strict=strict, prefix=prefix,
                             instances=instances, crowd=crowd, exif_orientation=exif_orientation)
    if not layout.image_names:
        raise layout_mod.LayoutError(f"{layout.root}/images has no .jpg files; nothing to convert")
    names, missing, unlisted = _assign_splits(layout, split, val_size, seed)
    options = {"split": split, "val_size": val_size if split == "holdout" else None,
               "seed": seed if split == "holdout" else None, "num_shards": num_shards,
               "shard_size_mb": shard_size_mb, "compression": compression, "strict": strict,
               "prefix": prefix}
    plans = {s: sharding.SplitPlan.create(s, [layout.sample(n) for n in ns], prefix,
                                          num_shards=num_shards, shard_size_mb=shard_size_mb)
             for s, ns in names.items()}
    return BuildPlan(layout, options, plans, missing, unlisted)


def _plan_dataset(fmt, layout, *, split, val_size, seed, num_shards, shard_size_mb, compression,
                  strict, prefix, instances, crowd, exif_orientation):
    if not layout.samples:
        raise formats.FormatError(f"{layout.root} ({fmt}) has no sample with a photo; nothing to "
                                  "convert")
    if layout.num_classes > 255:
        raise BuildError(f"{layout.root} has {layout.num_classes} classes; records store 8-bit "
                         "train ids (at most 255 classes, 255 is ignore)")
    names = _assign_dataset_splits(layout, split, val_size, seed)
    options = {"format": fmt, "split": split, "val_size": val_size if split == "holdout" else None,
               "seed": seed if split == "holdout" else None, "num_shards": num_shards,
               "shard_size_mb": shard_size_mb, "compression": compression, "strict": strict,
               "prefix": prefix}
    if instances:
        options["instances"] = True
    if fmt == "coco":
        options["crowd"] = crowd
    if exif_orientation != "auto":  # the default stays out: older manifests' options match
        options["exif_orientation"] = exif_orientation
    decoder = dataclasses.replace(layout.decoder, exif_orientation=exif_orientation,
                                  report_mask_repairs=fmt == "masks")
    plans = {s: sharding.SplitPlan.create(s, [layout.samples[n] for n in ns], prefix,
                                          num_shards=num_shards, shard_size_mb=shard_size_mb,
                                          num_classes=layout.num_classes, first_value=0)
             for s, ns in names.items()}
    return BuildPlan(layout, options, plans, list(layout.missing), list(layout.unlisted),
                     format=fmt, decoder=decoder)


def check_old_manifest(out, old, options, source, overwrite):
    """The rule for a non-empty output folder `out` holding manifest `old` (None: none readable).

    Returns the old manifest when the build may go on but must reproduce its shards
    (`check_same_shards`), None when it may replace the folder; raises BuildError otherwise.
    """
    if old is None:
        raise BuildError(f"--output-dir {out} is not empty and holds no segkit record set "
                         "(no readable manifest.json); refusing to replace its files. Choose an "
                         "empty or new folder.")
    if overwrite:
        return None
    if old.get("options") != options or old.get("source") != source:
        raise BuildError(f"--output-dir {out} already holds a different record set (built from "
                         f"{old.get('source')} with options {old.get('options')}); pass "
                         "--overwrite to replace it, or choose another --output-dir")
    return old


def check_same_shards(out, old, manifest):
    """Raise BuildError when a rebuild with the same options gave other shards than `old`."""
    key = lambda m: {s: [(x["file"], x["sha256"]) for x in v["shards"]]  # noqa: E731
                     for s, v in m["splits"].items()}
    if old is not None and key(old) != key(manifest):
        raise BuildError(f"--output-dir {out} holds a set built with the same options, but "
                         "the data changed since; pass --overwrite to replace it")


def check_strict(strict, skipped):
    """Raise StrictError listing every skip when `strict` and anything was skipped."""
    if strict and skipped:
        lines = "\n".join(f"  {s['name']}: {s['reason']}" for s in skipped)
        raise StrictError(f"--strict: {len(skipped)} sample(s) would be skipped, nothing "
                          f"was written:\n{lines}")


def make_manifest(plan, splits, skipped, repaired, build, dropped=()):
    """The manifest dict. `splits`: split -> entry (SplitPlan.finish's shape); `build`: how it
    ran (runner, workers, seconds): the only part that may differ between runners; `dropped`:
    annotations left out of kept samples ({"name", "reason"})."""
    import segdata

    classes = plan.classes
    if plan.format == "pets":
        label_map = labels.pets_label_map()
        palette, foreground, offset = labels.PETS_PALETTE, 0, manifest_mod.LABEL_OFFSET
        by_value = {str(v): c for v, c in label_map.items()}
    else:
        label_map, palette = dict(plan.layout.label_map), plan.layout.palette
        foreground, offset = plan.layout.foreground_class, 0
        by_value = {str(c): c for c in range(len(classes))}
    pixels, sizes = [0] * len(classes), {}
    for entry in splits.values():
        for key, n in entry.get("class_pixel_counts", {}).items():
            pixels[by_value[key]] += n
        for size in entry.get("image_sizes", ()):
            key = (size["height"], size["width"])
            sizes[key] = sizes.get(key, 0) + size["count"]
    dropped = list(dropped) + list(getattr(plan.layout, "dropped", []))
    stats = {}
    for entry in splits.values():
        sharding.add_stats(stats, entry.get("stats", {}).items())
    ignore, warnings = _ignore_report(plan, splits, classes, pixels, stats)
    turned = {}
    if plan.decoder is not None:
        turned, more = orientation.report(plan.decoder.exif_orientation, stats)
        warnings += more
    return {
        "format_version": manifest_mod.FORMAT_VERSION,
        "created_by": f"segkit {segdata.__version__}",
        "format": plan.format,
        "source": plan.source, "prefix": plan.options["prefix"],
        "compression": plan.options["compression"],
        "options": plan.options, "label_offset": offset,
        "num_classes": len(classes),
        "label_names": list(classes),
        "classes": list(classes),
        "ignore_label": labels.IGNORE_LABEL,
        "label_map": label_map,
        "palette": [list(map(int, rgb)) for rgb in palette],
        "foreground_class": foreground,
        "class_pixel_counts": dict(zip(classes, pixels)),
        "image_sizes": sharding.size_entries(sizes),
        "splits": splits,
        "skipped": skipped, "repaired": repaired,
        "dropped": {"count": len(dropped), "annotations": dropped},
        "ignored": {"count": len(plan.layout.ignored), "files": plan.layout.ignored},
        "unlisted": {"count": len(plan.unlisted), "names": plan.unlisted},
        "ignore": ignore,
        **({"exif_orientation": turned} if turned else {}),
        "warnings": warnings,
        "build": build,
    }


MOSTLY_IGNORE = 0.5  # warn when more of the labelled pixels are ignore than this


def _ignore_report(plan, splits, classes, pixels, stats):
    """-> (manifest "ignore" dict, [warning str]) from the splits' summed stats.

    "ignore": pixels stored as 255, COCO's crowd annotations and pixels sent to ignore
    (with the per-file decision, segdata.formats.coco_crowd). Warnings: the reader's own
    (a fallback colour map, crowds read as objects), a class the dataset names that never
    occurs, and a build where most labelled (non-background) pixels became ignore.
    """
    if plan.format == "pets":
        return {}, []
    ignore = {"pixels": stats.get("ignore_pixels", 0)}
    report = dict(getattr(plan.layout, "report", {}))
    if "crowd" in report:
        ignore["crowd"] = {**report.pop("crowd"),
                           "annotations": stats.get("crowd_annotations", 0),
                           "pixels": stats.get("crowd_pixels", 0)}
    ignore.update(report)
    warnings = list(getattr(plan.layout, "warnings", []))
    kept = sum(entry["num_examples"] for entry in splits.values())
    crowd = ignore.get("crowd", {})
    if crowd.get("annotations"):
        warnings.append(f"{crowd['annotations']} iscrowd annotation(s) were painted as ignore "
                        f"({crowd['pixels']} pixels, --crowd {crowd['mode']}); pass --crowd "
                        "objects if they are objects stored as RLE (CVAT, Datumaro)")
    never = [c for c, n in zip(classes, pixels) if not n]
    if kept and never:
        warnings.append(f"{len(never)} of {len(classes)} classes never occur in the records: "
                        f"{', '.join(never[:20])}{' ...' if len(never) > 20 else ''}")
    objects = sum(n for c, n in zip(classes, pixels) if c != "background")
    if kept and ignore["pixels"] > MOSTLY_IGNORE * (ignore["pixels"] + objects):
        warnings.append(f"{ignore['pixels']} pixels are ignore (255) against {objects} pixels "
                        "of classes other than background: most labelled pixels became ignore; "
                        "check that the masks' values or colours match the dataset's label "
                        "table (e.g. a custom label_colors.txt or labelmap.txt)")
    return ignore, warnings
