"""PASCAL VOC 2012 and CVAT "Segmentation mask 1.1" layouts (CVAT's export is VOC-shaped).

VOC: VOCdevkit/VOC2012/{JPEGImages/*.jpg, SegmentationClass/*.png (mode "P", VOC colour map,
index = class id, a 255 band on object boundaries), SegmentationObject/*.png (index = object
number, same band), Annotations/*.xml, ImageSets/Segmentation/{train,val,trainval}.txt}, plus
detection-only photos (a JPEG and an XML, no masks, in no segmentation list).

CVAT: labelmap.txt, JPEGImages/, SegmentationClass/*.png (RGB, colours from labelmap.txt, no
ignore band), SegmentationObject/*.png (palette), ImageSets/Segmentation/default.txt (all).
"""

import numpy as np

from segdata.synthetic import common, scenes

VOC_CLASSES = ("background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car",
               "cat", "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person",
               "pottedplant", "sheep", "sofa", "train", "tvmonitor")
VOC_DRAWN = ("bird", "car", "cat", "dog", "person")  # the subset the scenes show
# CVAT's labelmap.txt: name -> colour (CVAT's default label colours).
CVAT_LABELS = {"background": (0, 0, 0), "cat": (250, 50, 83), "dog": (61, 61, 245),
               "person": (184, 61, 245), "car": (255, 106, 77)}
VOC_BAND = 3  # px: VOC's "void" outline, about 5 px on 500 px photos, scaled down
VOC_QUIRKS = ("missing", "size", "value", "grayscale", "png_as_jpg")
CVAT_QUIRKS = ("missing", "size", "colour", "grayscale", "png_as_jpg")


def _bbox(mask):
    ys, xs = np.nonzero(mask)
    return int(xs.min()) + 1, int(ys.min()) + 1, int(xs.max()) + 1, int(ys.max()) + 1


def _xml(name, h, w, shapes, classes, segmented):
    """A VOC Annotations/NAME.xml stub: size, segmented flag and one <object> per shape."""
    objects = "".join(
        "\t<object>\n\t\t<name>{}</name>\n\t\t<pose>Unspecified</pose>\n\t\t<truncated>0"
        "</truncated>\n\t\t<difficult>0</difficult>\n\t\t<bndbox>\n\t\t\t<xmin>{}</xmin>\n"
        "\t\t\t<ymin>{}</ymin>\n\t\t\t<xmax>{}</xmax>\n\t\t\t<ymax>{}</ymax>\n\t\t</bndbox>\n"
        "\t</object>\n".format(classes[s.label], *_bbox(s.mask)) for s in shapes)
    return (f"<annotation>\n\t<folder>VOC2012</folder>\n\t<filename>{name}.jpg</filename>\n"
            "\t<source>\n\t\t<database>The VOC2008 Database</database>\n\t</source>\n"
            f"\t<size>\n\t\t<width>{w}</width>\n\t\t<height>{h}</height>\n\t\t<depth>3</depth>\n"
            f"\t</size>\n\t<segmented>{int(segmented)}</segmented>\n{objects}</annotation>\n")


def _scenes(rng, names, h, w, labels):
    looks = scenes.class_looks(labels)
    for name in names:
        shapes = scenes.random_objects(rng, h, w, labels)
        yield name, shapes, scenes.render(rng, h, w, shapes, looks)


def write_voc(out, *, num_images, image_size, seed, quirks):
    """Write VOCdevkit/ under `out`; returns the GeneratedDataset fields (root relative)."""
    common.need_images("voc", num_images, len(VOC_QUIRKS) + 4 if quirks else 3, quirks)
    h, w = image_size
    rng = np.random.default_rng(seed)
    base = out / "VOCdevkit" / "VOC2012"
    names = [f"2008_{100 + 7 * i:06d}" for i in range(num_images)]
    detection_only = [f"2009_{5 + 11 * i:06d}" for i in range(2)]
    labels = [VOC_CLASSES.index(c) for c in VOC_DRAWN]
    cmap = common.voc_colormap()
    truth = {}
    for name, shapes, image in _scenes(rng, names + detection_only, h, w, labels):
        common.write(base / "JPEGImages" / f"{name}.jpg", common.jpeg(image))
        common.write(base / "Annotations" / f"{name}.xml",
                     _xml(name, h, w, shapes, VOC_CLASSES, name in names))
        if name in detection_only:
            continue
        objects = scenes.paint(shapes, h, w, value=lambda i, s: i + 1)
        band = scenes.boundary_band(objects, VOC_BAND)
        classes = scenes.paint(shapes, h, w)
        classes[band] = objects[band] = 255
        common.write(base / "SegmentationClass" / f"{name}.png", common.palette_png(classes, cmap))
        common.write(base / "SegmentationObject" / f"{name}.png", common.palette_png(objects, cmap))
        truth[name] = classes
    train, val = common.split_names(names, (2 / 3, 1 / 3))
    sets = base / "ImageSets" / "Segmentation"
    for split, listed in (("train", train), ("val", val), ("trainval", sorted(train + val))):
        common.write(sets / f"{split}.txt", "".join(f"{n}\n" for n in listed))
    planted = {}
    if quirks:
        planted = common.plant_samples(VOC_QUIRKS, train, lambda n: base / "JPEGImages" / f"{n}.jpg",
                         lambda n: base / "SegmentationClass" / f"{n}.png", bad=37)
        planted.update({f"VOC2012/{k}": v for k, v in common.plant_junk(
            base, "JPEGImages", "SegmentationClass", train[-1]).items()})
    return dict(root="VOCdevkit", classes=VOC_CLASSES, truth=common.keep_truth(truth, planted),
                splits={"train": train, "validation": val}, quirks=planted)


def write_cvat(out, *, num_images, image_size, seed, quirks):
    """Write a CVAT "Segmentation mask 1.1" export into `out` (the root)."""
    common.need_images("cvat", num_images, len(CVAT_QUIRKS) + 2 if quirks else 1, quirks)
    h, w = image_size
    rng = np.random.default_rng(seed)
    classes = tuple(CVAT_LABELS)
    colours = np.array(list(CVAT_LABELS.values()), np.uint8)
    names = [f"frame_{i:06d}" for i in range(num_images)]
    common.write(out / "labelmap.txt", "# label:color_rgb:parts:actions\n" + "".join(
        f"{n}:{r},{g},{b}::\n" for n, (r, g, b) in CVAT_LABELS.items()))
    cmap, truth = common.voc_colormap(), {}
    for name, shapes, image in _scenes(rng, names, h, w, list(range(1, len(classes)))):
        common.write(out / "JPEGImages" / f"{name}.jpg", common.jpeg(image))
        cls = scenes.paint(shapes, h, w)
        common.write(out / "SegmentationClass" / f"{name}.png", common.encode(colours[cls], "PNG"))
        objects = scenes.paint(shapes, h, w, value=lambda i, s: i + 1)
        common.write(out / "SegmentationObject" / f"{name}.png", common.palette_png(objects, cmap))
        truth[name] = cls
    common.write(out / "ImageSets" / "Segmentation" / "default.txt", "".join(f"{n}\n" for n in names))
    planted = {}
    if quirks:
        planted = common.plant_samples(CVAT_QUIRKS, names, lambda n: out / "JPEGImages" / f"{n}.jpg",
                         lambda n: out / "SegmentationClass" / f"{n}.png", bad=None)
        planted.update(common.plant_junk(out, "JPEGImages", "SegmentationClass", names[-1]))
    # CVAT exports one "default" subset: every image, no official validation split.
    return dict(root=".", classes=classes, truth=common.keep_truth(truth, planted),
                splits={"train": names}, quirks=planted)

