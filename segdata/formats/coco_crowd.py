"""What `iscrowd: 1` means in one COCO JSON: a crowd region (ignore) or an object stored as RLE.

COCO's own files mark a few large regions covering many people as crowds; they are painted as
ignore. CVAT's "COCO 1.0" export and Datumaro's `coco_instances` write *every* mask annotation
as RLE with `"iscrowd": 1`: there it means "stored as RLE", and painting those as ignore would
turn every labelled object into 255. The rule, per JSON file (`--crowd`):

    ignore   crowd annotations are ignore regions (COCO's meaning)
    objects  crowd annotations are objects like any other
    auto     objects when the file carries the header Datumaro (and so CVAT) writes (every
             `info` field an empty string, one licence with no name), or when every
             annotation of the file is a crowd RLE and no annotation lies mostly (more than
             half of its area) inside another one of the same image and category, as
             instances under a crowd region would; ignore otherwise (the default). A car's
             window inside the car (another category) is not a crowd.

Datumaro's own importer reads every `iscrowd: 1` RLE as a mask of its category (flagged
`is_crowd`), so for the files it wrote, objects is also the reading that agrees with it; a
file mixing polygons (iscrowd 0) and brush masks (iscrowd 1), as a CVAT task with both gives,
is caught by the header.
"""

from segdata.formats.base import CROWD_MODES

NESTED = 0.5  # an annotation this much inside another one is how crowds look


def _rle(segm, height, width):
    from pycocotools import mask as mask_utils

    counts = segm["counts"]
    if isinstance(counts, list):
        return mask_utils.frPyObjects(segm, height, width)
    return {"size": [height, width], "counts": counts.encode() if isinstance(counts, str)
            else counts}


def _nested(anns, height, width):
    """True when some annotation lies more than NESTED inside another of its category."""
    if len(anns) < 2 or len({a["category_id"] for a in anns}) == len(anns):
        return False
    from pycocotools import mask as mask_utils

    rles = [_rle(a["segmentation"], height, width) for a in anns]
    # iou with every "ground truth" marked crowd is intersection / area(detection):
    # cover[i, j] = the part of annotation i that lies inside annotation j.
    cover = mask_utils.iou(rles, rles, [1] * len(rles))
    return any(cover[i, j] > NESTED and anns[i]["category_id"] == anns[j]["category_id"]
               for i in range(len(rles)) for j in range(len(rles)) if i != j)


def written_by_datumaro(data):
    """True for a COCO JSON with the header Datumaro's exporter writes: `info` with only
    empty-string fields and `licenses` == [{"name": "", "id": 0, "url": ""}]."""
    info, licenses = data.get("info"), data.get("licenses")
    return (isinstance(info, dict) and bool(info) and all(v == "" for v in info.values())
            and licenses == [{"name": "", "id": 0, "url": ""}])


def decide(mode, annotations, images, data=None):
    """-> ("objects" | "ignore", why) for one JSON file's crowd annotations.

    mode: one of CROWD_MODES; annotations: the file's kept annotation dicts by image id
    ({image id: [ann]}, segmentations checked); images: {image id: image dict}; data: the
    whole JSON (its header), or None.
    """
    if mode not in CROWD_MODES:
        raise ValueError(f"--crowd must be one of {', '.join(CROWD_MODES)}, got {mode!r}")
    anns = [a for group in annotations.values() for a in group]
    crowd = [a for a in anns if a.get("iscrowd")]
    if mode != "auto" or not crowd:
        return (mode if mode != "auto" else "ignore"), f"--crowd {mode}"
    if data is not None and written_by_datumaro(data):
        return "objects", ("the file has the header Datumaro and CVAT write, whose iscrowd "
                           "means 'stored as RLE'")
    if len(crowd) != len(anns):
        return "ignore", (f"{len(anns) - len(crowd)} annotation(s) are not crowds, so crowds "
                          "are COCO's ignore regions")
    if not all(isinstance(a["segmentation"], dict) for a in crowd):
        return "ignore", "some crowd annotations are polygons, not RLE"
    for img_id, group in annotations.items():
        img = images[img_id]
        if _nested(group, img["height"], img["width"]):
            return "ignore", (f"in image {img['file_name']} an annotation lies mostly inside "
                              "another of its category, as objects under a crowd region do")
    return "objects", ("every annotation is a crowd RLE and none lies inside another: a mask "
                       "export (CVAT, Datumaro) whose iscrowd means 'stored as RLE'")
