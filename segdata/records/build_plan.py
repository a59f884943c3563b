"""What a record-set build is, independent of the engine that runs it.

Both runners (`segdata.records.convert` in local processes, `segdata.records.beam_convert` on
Apache Beam) call
`plan_build` for the options, the split assignment and the shard boundaries, and `make_manifest`
for the manifest, so the two cannot disagree on which sample goes where or what is reported.
"""

import dataclasses
import os

from segdata.formats.pets import layout as layout_mod
from segdata.records import manifest as manifest_mod
from segdata.records import sharding
from segdata.records import splits as splits_mod

COMPRESSIONS = ("none", "gzip")


class BuildError(ValueError):
    """The build cannot proceed (bad option, output conflict); the message says what to do."""


class StrictError(BuildError):
    """--strict and at least one sample was skipped; nothing was written."""


@dataclasses.dataclass
class BuildPlan:
    """Everything decided before any sample is read.

    layout: segdata.formats.pets.layout.PetsLayout of the source folder.
    options: the manifest's "options" dict (also what a rebuild is compared against).
    plans: split -> segdata.records.sharding.SplitPlan, in write order; each holds its candidate
      samples and the shard boundaries over them.
    missing: listed stem without an image -> list file; unlisted: image stems in no list.
    """
    layout: object
    options: dict
    plans: dict
    missing: dict
    unlisted: list

    @property
    def source(self):
        return str(self.layout.root)

    def missing_skips(self):
        """Skip entries (dicts) for listed samples without an image, reported first."""
        return [{"name": n, "reason": f"listed in annotations/{f} but images/{n}.jpg is missing"}
                for n, f in self.missing.items()]


def _assign_splits(layout, split, val_size, seed):
    """-> ({split: [stem]}, {listed stem without image: list file}, [unlisted stems])."""
    if split == "holdout":
        return splits_mod.holdout_split(layout.image_names, val_size, seed), {}, []
    try:
        return splits_mod.official_split(layout.lists, layout.image_names)
    except ValueError as e:
        raise layout_mod.LayoutError(f"{layout.root}: {e}") from None


def plan_build(data_dir, *, split, val_size, seed, num_shards, shard_size_mb, compression,
               strict, prefix):
    """Check the options, scan `data_dir`, assign splits and fix shard boundaries -> BuildPlan.

    Raises segdata.formats.pets.layout.LayoutError / BuildError (ValueError subclasses) saying
    what to do.
    """
    if split not in splits_mod.SPLITS:
        raise BuildError(f"--split must be one of {', '.join(splits_mod.SPLITS)}, got {split!r}")
    if compression not in COMPRESSIONS:
        raise BuildError(f"--compression must be one of {', '.join(COMPRESSIONS)}, got "
                         f"{compression!r}")
    if not prefix or "/" in prefix or os.sep in prefix:
        raise BuildError(f"--prefix must be a plain file-name prefix, got {prefix!r}")
    layout = layout_mod.scan_pets(data_dir)
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


def make_manifest(plan, splits, skipped, repaired, build):
    """The manifest dict. `splits`: split -> entry (SplitPlan.finish's shape); `build`: how it
    ran (runner, workers, seconds): the only part that may differ between runners."""
    import segdata

    return {
        "format_version": manifest_mod.FORMAT_VERSION,
        "created_by": f"segkit {segdata.__version__}",
        "source": plan.source, "prefix": plan.options["prefix"],
        "compression": plan.options["compression"],
        "options": plan.options, "label_offset": manifest_mod.LABEL_OFFSET,
        "num_classes": len(manifest_mod.LABEL_NAMES),
        "label_names": list(manifest_mod.LABEL_NAMES),
        "splits": splits,
        "skipped": skipped, "repaired": repaired,
        "ignored": {"count": len(plan.layout.ignored), "files": plan.layout.ignored},
        "unlisted": {"count": len(plan.unlisted), "names": plan.unlisted},
        "build": build,
    }
