"""transforms: PIL-exact nearest mask resize; augmentation keeps image and mask aligned."""

import shutil

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from segdata import IGNORE_LABEL, load_dataset
from segdata.input.transforms import augment_pair, resize_mask
from segdata.records.convert import build_records

# Class colours far apart, so JPEG noise and bilinear blending cannot flip a pixel's nearest one.
PALETTE = np.array([[230, 30, 30], [30, 230, 30], [30, 30, 230]], np.float32)


@pytest.mark.parametrize("size_in,size_out", [
    ((458, 333), (97, 131)),  # tf.image.resize's nearest picks another row here (float32)
    ((500, 375), (200, 200)),
    ((161, 250), (64, 64)),
    ((97, 131), (200, 211)),  # upsampling
])
def test_mask_resize_equals_pil_nearest(size_in, size_out):
    mask = np.random.default_rng(0).integers(0, 255, size_in, dtype=np.uint8)
    pil = np.asarray(Image.fromarray(mask).resize(size_out[::-1], Image.NEAREST))
    ours = resize_mask(tf.constant(mask[..., None]), size_out).numpy()[..., 0]
    np.testing.assert_array_equal(ours, pil)


def classes_from_colours(images):
    """float [N, H, W, 3] -> class id of the nearest palette colour per pixel, [N, H, W, 1]."""
    dist = ((images[..., None, :] - PALETTE) ** 2).sum(-1)
    return dist.argmin(-1)[..., None]


@pytest.fixture(scope="module")
def colour_records(pets_dir, tmp_path_factory):
    """Records whose photos are their trimaps painted with PALETTE: colour encodes the class."""
    root = tmp_path_factory.mktemp("colour")
    pets = root / "pets"
    shutil.copytree(pets_dir, pets)
    for trimap_path in (pets / "annotations" / "trimaps").glob("*.png"):
        trimap = np.asarray(Image.open(trimap_path))
        painted = PALETTE[trimap.astype(int) - 1].astype(np.uint8)
        Image.fromarray(painted).save(pets / "images" / f"{trimap_path.stem}.jpg", quality=95)
    build_records(pets, root / "records", split="holdout", val_size=12, seed=1337,
                  num_shards=2, workers=1, progress=False)
    return root / "records"


def mismatch(images, masks):
    """Fraction of labelled pixels whose colour says another class than the mask."""
    labelled = masks != IGNORE_LABEL
    return np.mean(classes_from_colours(images)[labelled] != masks[labelled])


def test_augmentation_keeps_image_and_mask_aligned(colour_records):
    ds = load_dataset(colour_records, "train", image_size=(64, 64), batch_size=36,
                      augment=True, seed=3)
    images, masks = (t.numpy() for t in next(iter(ds)))
    plain_images, plain_masks = (t.numpy() for t in next(iter(
        load_dataset(colour_records, "train", image_size=(64, 64), batch_size=36))))
    assert not np.array_equal(masks, plain_masks)  # the transform did something
    assert not (masks == IGNORE_LABEL).any()  # default zooms in only: plain losses still work
    baseline = mismatch(plain_images, plain_masks)  # edge blending of the un-augmented data
    assert mismatch(images, masks) < baseline + 0.02
    # The check can fail: a mask flipped on its own no longer matches its image.
    assert mismatch(images, masks[:, :, ::-1]) > 0.1


def test_zoom_out_pads_with_the_ignore_label(colour_records):
    images, masks = next(iter(load_dataset(colour_records, "train", image_size=(64, 64),
                                           batch_size=36)))
    out = [augment_pair(i, m, tf.constant([k, 0], tf.int64), scale_range=(0.6, 0.9))
           for k, (i, m) in enumerate(zip(images, masks))]
    images, masks = np.stack([o[0] for o in out]), np.stack([o[1] for o in out])
    padded = masks[..., 0] == IGNORE_LABEL
    assert padded.mean() > 0.1 and np.all(images[padded] == 0)
    assert mismatch(images, masks) < 0.06


def test_augment_pair_is_a_pure_function_of_the_seed():
    image = tf.random.stateless_uniform([32, 40, 3], [1, 2], 0, 255)
    mask = tf.cast(tf.random.stateless_uniform([32, 40, 1], [3, 4], 0, 3, tf.int32), tf.uint8)
    seed = tf.constant([5, 6], tf.int64)
    a, b = augment_pair(image, mask, seed), augment_pair(image, mask, seed)
    c = augment_pair(image, mask, tf.constant([5, 7], tf.int64))
    np.testing.assert_array_equal(a[1], b[1])
    assert a[0].shape == (32, 40, 3) and a[0].dtype == tf.float32 and a[1].dtype == tf.uint8
    assert not np.array_equal(a[1], c[1])
