"""manifest.json: the record set's table of contents, written last by the converter.

Readers (`segdata.input.pipeline`, `verify_records`) trust a folder only when its manifest parses;
a folder without one is an unfinished or foreign build.
"""

import json
import pathlib

from segdata.io.atomic import write_json_atomic
from segdata.records.labels import LABEL_NAMES, LABEL_OFFSET  # noqa: F401 (the manifest's defaults)

MANIFEST_NAME = "manifest.json"
FORMAT_VERSION = 1
_REQUIRED = ("format_version", "prefix", "compression", "splits")


class ManifestError(ValueError):
    """A records folder has no usable manifest.json; the message says what to do."""


def write_manifest(records_dir, manifest):
    """Write `manifest` (dict) as records_dir/manifest.json via a temporary name + rename."""
    return write_json_atomic(pathlib.Path(records_dir) / MANIFEST_NAME, manifest)


def read_manifest(records_dir):
    """records_dir/manifest.json -> dict. Raises ManifestError naming the folder and the fix."""
    folder = pathlib.Path(records_dir)
    path = folder / MANIFEST_NAME
    hint = ("build it with `python tools/build_records.py --data-dir DATA --output-dir "
            f"{folder}`")
    if not folder.is_dir():
        raise ManifestError(f"records folder {folder} does not exist; {hint}")
    if not path.is_file():
        raise ManifestError(f"{folder} has no {MANIFEST_NAME}: it is not a finished record set "
                            f"(an interrupted build leaves none); {hint}")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ManifestError(f"{path} is unreadable or not JSON ({e}); rebuild the set: "
                            f"{hint} --overwrite") from None
    missing = [k for k in _REQUIRED if k not in manifest] if isinstance(manifest, dict) else _REQUIRED
    if missing:
        raise ManifestError(f"{path} lacks {', '.join(missing)}; rebuild the set: {hint} --overwrite")
    if manifest["format_version"] != FORMAT_VERSION:
        raise ManifestError(f"{path} has format_version {manifest['format_version']}, this segkit "
                            f"reads {FORMAT_VERSION}; rebuild the set with this version")
    return manifest


def shard_paths(records_dir, manifest, split):
    """Absolute shard paths (list of str) of `split`, in order. Raises ManifestError if absent."""
    splits = manifest["splits"]
    if split not in splits:
        raise ManifestError(f"{records_dir} has no split {split!r}; it has "
                            f"{', '.join(sorted(splits))}")
    return [str(pathlib.Path(records_dir) / s["file"]) for s in splits[split]["shards"]]


def summarize(manifest, records_dir=None, seconds=None):
    """One-screen, human-readable summary of a build (str)."""
    lines = [f"Records in {records_dir}" if records_dir else "Records"]
    for split, info in manifest["splits"].items():
        n = len(info["shards"])
        size = sum(s["bytes"] for s in info["shards"]) / 1e6
        lines.append(f"  {split:<11} {info['num_examples']:>6} examples  {n:>4} shard(s)  "
                     f"{size:9.1f} MB")
    kept = sum(info["num_examples"] for info in manifest["splits"].values())
    lines.append(f"  kept {kept}, repaired {len(manifest['repaired'])}, "
                 f"skipped {len(manifest['skipped'])}, ignored files {manifest['ignored']['count']}"
                 + (f", unlisted images {manifest['unlisted']['count']}"
                    if manifest.get("unlisted", {}).get("count") else ""))
    ignore = manifest.get("ignore", {})
    if ignore.get("pixels"):
        crowd = ignore.get("crowd", {})
        lines.append(f"  ignore pixels {ignore['pixels']}" + (
            f" ({crowd['annotations']} crowd annotation(s), {crowd['pixels']} pixels, "
            f"--crowd {crowd['mode']})" if crowd.get("annotations") else ""))
    turned = manifest.get("exif_orientation")
    if turned:
        lines.append(f"  EXIF-oriented photos: {turned['turned']} turned as shown, "
                     f"{turned['kept_as_stored']} kept as stored, {turned['ambiguous']} "
                     f"undecided, kept as stored (--exif-orientation {turned['mode']})")
    for warning in manifest.get("warnings", []):
        lines.append(f"  warning: {warning}")
    dropped = manifest.get("dropped", {}).get("annotations", [])
    if dropped:
        lines.append(f"  dropped annotations {len(dropped)} (their images kept)")
    for title, key in (("skipped", "skipped"), ("repaired", "repaired"), ("dropped", None)):
        entries = manifest[key] if key else dropped
        for entry in entries[:8]:
            lines.append(f"    {title}: {entry['name']}: {entry['reason']}")
        if len(entries) > 8:
            lines.append(f"    ... and {len(entries) - 8} more {title} (see manifest.json)")
    if seconds is not None:
        lines.append(f"  time {seconds:.1f} s ({kept / max(seconds, 1e-9):.0f} images/s)")
    return "\n".join(lines)
