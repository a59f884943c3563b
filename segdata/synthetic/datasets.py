"""Generated datasets in every real on-disk layout, with the truth a correct reader must produce.

    ds = make_dataset(tmp / "voc", "voc", num_images=12, seed=0, quirks=True)
    ds.root          # point a reader here (e.g. .../voc/VOCdevkit)
    ds.truth[name]   # uint8 [H, W] train ids, 255 = ignore

Formats: voc, cvat, coco, cityscapes, ade20k, camvid, masks (the Pets layout is
`segdata.synthetic.pets.make_sample_data`). Output is a pure function of the arguments (same
bytes every run). The folder is generated under a temporary name and renamed when complete.
"""

import dataclasses
import os
import pathlib
import shutil

from segdata.synthetic import ade20k, camvid, cityscapes, coco, masks, voc

WRITERS = {"voc": voc.write_voc, "cvat": voc.write_cvat, "coco": coco.write_coco,
           "cityscapes": cityscapes.write_cityscapes, "ade20k": ade20k.write_ade20k,
           "camvid": camvid.write_camvid, "masks": masks.write_masks}
FORMATS = tuple(WRITERS)


@dataclasses.dataclass(frozen=True)
class GeneratedDataset:
    """What `make_dataset` wrote.

    root: pathlib.Path of the folder a reader should be pointed at.
    format: the layout name.
    classes: tuple of class names in train-id order (background first where the layout has one).
    truth: {sample name: uint8 numpy [H, W] train ids, 255 = ignore}: what a correct reader must
      produce from the files, for every sample it must build (samples it must skip are absent;
      repaired ones are present).
    splits: {TFDS split name ("train", "validation", "test"): [sample names as listed]}
      (listed names include samples a reader must skip).
    quirks: {sample name, path relative to root (junk), or "annotation ID" (COCO): expected
      outcome}, e.g. "skipped: size", "repaired: grayscale", "dropped: degenerate polygon",
      "ignored: junk". Empty unless quirks=True.
    """
    root: pathlib.Path
    format: str
    classes: tuple
    truth: dict
    splits: dict
    quirks: dict


def make_dataset(output_dir, fmt, *, num_images=12, image_size=(96, 128), seed=0, quirks=False,
                 mask_bits=8, overwrite=False):
    """Write a `fmt`-layout dataset of `num_images` scenes of several classes into output_dir.

    image_size: (height, width) of every photo, each side >= 32.
    quirks: also plant the layout's real mess (see each layout module); recorded in .quirks.
    mask_bits: 8 or 16, the "masks" layout's PNG depth (other formats: 8 only).
    An existing non-empty output_dir is refused unless overwrite=True (it is then replaced).
    Raises ValueError for bad arguments. Returns a GeneratedDataset.
    """
    if fmt not in WRITERS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    h, w = (int(v) for v in image_size)
    if min(h, w) < 32:
        raise ValueError(f"image_size sides must be >= 32 px, got {h}x{w}")
    if mask_bits not in (8, 16) or (mask_bits == 16 and fmt != "masks"):
        raise ValueError(f"mask_bits must be 8 (or 16 for format 'masks'), got {mask_bits}")
    final = pathlib.Path(output_dir).expanduser().resolve()
    if final.exists() and (not final.is_dir() or any(final.iterdir())) and not overwrite:
        raise ValueError(f"{final} already exists and is not empty; choose a new output folder "
                         "or pass overwrite=True (--overwrite) to replace it")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".{final.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    kwargs = {"mask_bits": mask_bits} if fmt == "masks" else {}
    try:
        fields = WRITERS[fmt](tmp, num_images=num_images, image_size=(h, w), seed=seed,
                              quirks=quirks, **kwargs)
        if final.exists():
            shutil.rmtree(final) if final.is_dir() else final.unlink()
        os.rename(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    root = fields.pop("root")
    return GeneratedDataset(root=(final / root).resolve(), format=fmt,
                            classes=tuple(fields["classes"]), truth=fields["truth"],
                            splits=fields["splits"], quirks=fields["quirks"])
