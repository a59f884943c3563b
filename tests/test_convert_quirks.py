"""Each real-world quirk on its own: repaired, skipped (with a reason naming it) or ignored."""

import io
import json
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from segdata.formats.pets import samples
from segdata.formats.pets.layout import Sample
from segdata.records import features
from segdata.records.convert import StrictError, build_records
from segdata.synthetic.pets_quirks import QUIRKS


@pytest.fixture(scope="module")
def quirky(quirky_pets_dir, tmp_path_factory):
    root = quirky_pets_dir
    out = tmp_path_factory.mktemp("quirky_records") / "records"
    manifest = build_records(root, out, split="official", workers=1, progress=False)
    return root, out, manifest, json.loads((root / "quirks.json").read_text())


def _records(out, manifest):
    """source_id -> parsed Example dict, read with TensorFlow's own TFRecord reader."""
    import tensorflow as tf

    found = {}
    for info in manifest["splits"].values():
        for shard in info["shards"]:
            for raw in tf.data.TFRecordDataset(str(out / shard["file"])):
                ex = features.parse_example_bytes(raw.numpy())
                found[ex[features.IMAGE_SOURCE_ID].decode()] = ex
    return found


@pytest.mark.parametrize("quirk", sorted(QUIRKS))
def test_quirk_outcome(quirky, quirk):
    root, out, manifest, planted = quirky
    name, expect = planted[quirk]["name"], planted[quirk]["expect"]
    skipped = {s["name"]: s["reason"] for s in manifest["skipped"]}
    repaired = {s["name"]: s["reason"] for s in manifest["repaired"]}
    records = _records(out, manifest)
    if expect == "skipped":
        assert name in skipped and name not in records
    elif expect == "repaired":
        assert name in repaired and name in records and name not in skipped
    elif expect == "kept":
        assert name in records and name not in repaired and name not in skipped
        assert records[name][features.IMAGE_ENCODED] == (root / planted[quirk]["file"]).read_bytes()
    else:  # junk: counted as ignored, never a sample, never skipped
        assert planted[quirk]["file"] in manifest["ignored"]["files"]
        assert not any(planted[quirk]["file"].split("/")[-1] in s for s in skipped)
        assert name in records  # the real sample next to the junk file is unaffected


def test_skip_reasons_say_what_is_wrong(quirky):
    _, _, manifest, planted = quirky
    reasons = {s["name"]: s["reason"] for s in manifest["skipped"]}
    assert "truncated" in reasons[planted["truncated"]["name"]]
    assert "missing trimap" in reasons[planted["missing_trimap"]["name"]]
    assert "undecodable trimap" in reasons[planted["undecodable_trimap"]["name"]]
    size_reason = reasons[planted["wrong_size_trimap"]["name"]]
    assert "differs from image size" in size_reason and size_reason.count("x") >= 2
    assert "0, 7" in reasons[planted["bad_trimap_values"]["name"]]
    assert manifest["ignored"]["count"] == 3 and len(manifest["skipped"]) == 5


def test_repaired_records_decode_as_tensorflow_expects(quirky):
    import tensorflow as tf

    root, out, manifest, planted = quirky
    records = _records(out, manifest)
    for quirk in ("png_as_jpg", "gif_as_jpg", "cmyk", "rgba", "grayscale"):
        ex = records[planted[quirk]["name"]]
        img = Image.open(io.BytesIO(ex[features.IMAGE_ENCODED]))
        assert img.format == "JPEG" and img.mode == "RGB"
        decoded = tf.io.decode_jpeg(ex[features.IMAGE_ENCODED])
        assert decoded.shape == (ex[features.IMAGE_HEIGHT], ex[features.IMAGE_WIDTH], 3)
    # Palette/RGB trimaps: TF's decode_png(channels=1) must now give the stored class values.
    for quirk in ("palette_trimap", "rgb_trimap"):
        name = planted[quirk]["name"]
        ex = records[name]
        mask = tf.io.decode_png(ex[features.MASK_ENCODED], channels=1).numpy()[..., 0]
        source = Image.open(root / planted[quirk]["file"])
        expected = np.asarray(source) if source.mode == "P" else np.asarray(source)[..., 0]
        np.testing.assert_array_equal(mask, expected)
        assert set(np.unique(mask)) <= {1, 2, 3}


def test_strict_fails_and_writes_nothing(quirky, tmp_path):
    root = quirky[0]
    out = tmp_path / "strict"
    with pytest.raises(StrictError, match="5 sample"):
        build_records(root, out, split="official", workers=1, strict=True, progress=False)
    assert not out.exists() and not list(tmp_path.glob(".strict*"))


def test_encode_sample_is_pure_and_names_the_sample(tmp_path):
    img = np.zeros((10, 12, 3), np.uint8)
    Image.fromarray(img).save(tmp_path / "x_1.jpg")
    Image.fromarray(np.full((10, 12), 2, np.uint8)).save(tmp_path / "x_1.png")
    sample = Sample("x_1", str(tmp_path / "x_1.jpg"), str(tmp_path / "x_1.png"), 3, 1)
    first, second = samples.encode_sample(sample), samples.encode_sample(sample)
    assert first == second and first.skipped is None
    assert first.class_pixel_counts == (0, 120, 0)
    parsed = features.parse_example_bytes(first.example)
    assert parsed[features.CLASS_LABEL] == 3 and parsed[features.SPECIES] == 1
    assert parsed[features.IMAGE_FILENAME] == b"x_1.jpg"
    # A 2-bit grayscale PNG trimap would decode scaled in TF (1 -> 85): it must be re-encoded.
    (tmp_path / "x_1.png").write_bytes(_gray_png(np.full((10, 12), 1, np.uint8), bits=2))
    result = samples.encode_sample(sample)
    assert result.skipped is None and result.repaired and "trimap" in result.repaired
    assert result.class_pixel_counts == (120, 0, 0)


def _gray_png(values, bits):
    """A grayscale PNG of `bits`-bit samples, by hand: Pillow < 13 saves mode L as 8-bit only."""
    h, w = values.shape
    per_byte, rows = 8 // bits, b""
    for row in values:
        packed = bytearray((w * bits + 7) // 8)
        for x, v in enumerate(row):
            packed[x // per_byte] |= int(v) << (8 - bits * (x % per_byte + 1))
        rows += b"\x00" + bytes(packed)  # filter type 0 per scanline

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, bits, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def test_truncated_jpeg_rejected_at_every_cut(tmp_path):
    # prepare_image validates kept JPEGs with a reduced-scale decode; it must reject exactly
    # what a full decode rejects, for baseline and progressive files alike.
    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 255, (40, 56, 3), dtype=np.uint8))
    for progressive in (False, True):
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=90, progressive=progressive)
        data = buf.getvalue()
        assert samples.prepare_image(data)[0] == data
        for cut in range(50, len(data), max(1, len(data) // 60)):
            with pytest.raises(OSError):
                Image.open(io.BytesIO(data[:cut])).load()  # the full decode rejects it...
            with pytest.raises(OSError):
                samples.prepare_image(data[:cut])  # ...and so does the validation decode


def test_16_bit_image_is_scaled_not_clipped():
    ramp = (np.arange(32 * 32, dtype=np.uint32).reshape(32, 32) * 64).astype(np.uint16)
    buf = io.BytesIO()
    Image.fromarray(ramp).save(buf, format="PNG")
    data, size, reason = samples.prepare_image(buf.getvalue())
    rgb = np.asarray(Image.open(io.BytesIO(data)), np.int32)
    assert size == (32, 32) and "re-encoded" in reason and rgb.shape == (32, 32, 3)
    # A clipping conversion would saturate almost everything at 255.
    assert abs(int(rgb[16, 16, 0]) - (int(ramp[16, 16]) >> 8)) <= 4 and rgb[0, 0, 0] <= 4
