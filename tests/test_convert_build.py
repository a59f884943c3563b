"""Build mechanics: identical bytes for any worker count, atomic writes, overwrite rules,
verification and the command-line front end."""

import random
import shutil

import pytest

from segdata.formats.pets import samples
from segdata.records.convert import BuildError, build_records
from segdata.records.manifest import read_manifest
from segdata.records.verify import verify_records
from segmodel.cli import build_records as cli  # noqa: E402


def _shard_bytes(out):
    return {p.name: p.read_bytes() for p in sorted(out.glob("pets-*"))}


def test_same_bytes_for_any_worker_count(pets_dir, tmp_path):
    one = build_records(pets_dir, tmp_path / "w1", num_shards=3, workers=1, progress=False)
    two = build_records(pets_dir, tmp_path / "w2", num_shards=3, workers=2, progress=False)
    assert two["build"]["workers"] == 2
    assert _shard_bytes(tmp_path / "w1") == _shard_bytes(tmp_path / "w2")
    assert len(_shard_bytes(tmp_path / "w1")) == 6  # train + test, 3 shards each
    assert one["splits"] == two["splits"]


def test_gzip_records_verify(pets_dir, tmp_path):
    m = build_records(pets_dir, tmp_path / "gz", split="holdout", val_size=8, num_shards=1,
                      compression="gzip", workers=1, progress=False)
    assert m["compression"] == "gzip"
    assert (tmp_path / "gz" / m["splits"]["train"]["shards"][0]["file"]).read_bytes()[:2] == b"\x1f\x8b"
    assert verify_records(tmp_path / "gz") == []


def test_interrupted_build_leaves_no_set_and_rerun_completes(pets_dir, tmp_path, monkeypatch):
    real, calls = samples.encode_sample, []

    def crash_midway(sample):
        calls.append(sample.name)
        if len(calls) == 20:
            raise KeyboardInterrupt("simulated Ctrl-C")
        return real(sample)

    monkeypatch.setattr(samples, "encode_sample", crash_midway)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        build_records(pets_dir, out, num_shards=2, workers=1, progress=False)
    assert not out.exists() and not list(tmp_path.glob(".out.tmp-*"))
    monkeypatch.setattr(samples, "encode_sample", real)
    # A run killed outright (no cleanup) leaves its temp folder behind: the next run removes it.
    stale = tmp_path / ".out.tmp-999999999"
    stale.mkdir()
    (stale / "pets-train.part-00000").write_bytes(b"half a shard")
    build_records(pets_dir, out, num_shards=2, workers=1, progress=False)
    assert (out / "manifest.json").exists() and not stale.exists()
    assert verify_records(out) == []


def test_overwrite_rules(pets_dir, tmp_path):
    out = tmp_path / "set"
    build_records(pets_dir, out, num_shards=1, workers=1, progress=False)
    first = _shard_bytes(out)
    build_records(pets_dir, out, num_shards=1, workers=1, progress=False)  # same set: fine
    assert _shard_bytes(out) == first
    with pytest.raises(BuildError, match="--overwrite"):
        build_records(pets_dir, out, num_shards=2, workers=1, progress=False)
    assert _shard_bytes(out) == first  # refused: untouched
    build_records(pets_dir, out, num_shards=2, workers=1, overwrite=True, progress=False)
    assert len(_shard_bytes(out)) == 4 and read_manifest(out)["options"]["num_shards"] == 2
    foreign = tmp_path / "home"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    with pytest.raises(BuildError, match="not empty"):
        build_records(pets_dir, foreign, workers=1, overwrite=True, progress=False)
    assert (foreign / "thesis.tex").read_text() == "precious"


def test_verify_catches_corruption(records_dir, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(records_dir, copy)
    assert verify_records(copy) == []
    shard = copy / "pets-train.tfrecord-00001-of-00002"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0x01  # one flipped bit in the middle of an image
    shard.write_bytes(bytes(data))
    problems = verify_records(copy)
    assert problems and all("pets-train.tfrecord-00001-of-00002" in p for p in problems)
    assert any("SHA-256" in p for p in problems)
    (copy / "pets-validation.tfrecord-00000-of-00002").unlink()
    assert any("missing" in p for p in verify_records(copy))


def test_holdout_drops_bad_samples_without_moving_others(pets_dir, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(pets_dir, data)
    names = sorted(p.stem for p in (data / "images").glob("*.jpg"))
    broken = names[5]
    (data / "images" / f"{broken}.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    m = build_records(data, tmp_path / "out", split="holdout", val_size=12, num_shards=1,
                      workers=1, progress=False)
    shuffled = list(names)
    random.Random(1337).shuffle(shuffled)
    expected_val = [n for n in shuffled[-12:] if n != broken]
    assert m["skipped"][0]["name"] == broken
    assert m["splits"]["validation"]["num_examples"] == len(expected_val)
    assert m["splits"]["train"]["num_examples"] == 48 - 1 - len(expected_val)


def test_cli_exit_codes_and_messages(pets_dir, records_dir, tmp_path, capsys):
    assert cli.main(["--data-dir", str(tmp_path / "nope"), "--output-dir", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "Traceback" not in err
    assert cli.main(["--verify", str(records_dir)]) == 0
    assert "OK" in capsys.readouterr().out
    assert cli.main(["--verify", str(tmp_path)]) == 1
    with pytest.raises(SystemExit) as e:
        cli.main(["--num-shards", "2", "--shard-size-mb", "3"])
    assert e.value.code == 2
    data = tmp_path / "data"
    shutil.copytree(pets_dir, data)
    victim = sorted((data / "annotations" / "trimaps").glob("*.png"))[0]
    victim.unlink()
    out = tmp_path / "strict"
    assert cli.main(["--data-dir", str(data), "--output-dir", str(out), "--strict",
                     "--workers", "1", "--no-progress"]) == 1
    assert victim.stem in capsys.readouterr().err and not out.exists()
    assert cli.main(["--data-dir", str(data), "--output-dir", str(out), "--workers", "1",
                     "--no-progress", "--split", "holdout", "--val-size", "10"]) == 0
    summary = capsys.readouterr().out
    assert "skipped 1" in summary and victim.stem in summary


def test_no_empty_shards_and_missing_listed_images(tmp_path):
    from segdata.synthetic.pets import make_sample_data

    data = make_sample_data(tmp_path / "data", 6, seed=4, min_side=32, max_side=40)
    train_names = [line.split()[0] for line in
                   (data / "annotations" / "trainval.txt").read_text().splitlines()]
    (data / "images" / f"{train_names[0]}.jpg").unlink()  # listed, but the photo is gone
    (data / "images" / "stray_1.jpg").write_bytes((data / "images" / f"{train_names[1]}.jpg")
                                                  .read_bytes())  # in no list file
    m = build_records(data, tmp_path / "out", num_shards=len(train_names), workers=1,
                      progress=False)
    reasons = {s["name"]: s["reason"] for s in m["skipped"]}
    assert "trainval.txt" in reasons[train_names[0]]
    assert m["unlisted"] == {"count": 1, "names": ["stray_1"]}
    train = m["splits"]["train"]
    n = len(train_names) - 1
    assert train["num_examples"] == n and len(train["shards"]) == n
    assert [s["file"] for s in train["shards"]] == [
        f"pets-train.tfrecord-{i:05d}-of-{n:05d}" for i in range(n)]
    assert all(s["num_examples"] == 1 for s in train["shards"])
    assert verify_records(tmp_path / "out") == []


def test_verify_decode_names_records_tensorflow_cannot_read(records_dir, tmp_path):
    import json

    import tensorflow as tf

    from segdata.io.fsio import sha256_file
    from segdata.records import features

    copy = tmp_path / "copy"
    shutil.copytree(records_dir, copy)
    manifest = read_manifest(copy)
    shard = manifest["splits"]["validation"]["shards"][0]
    raws = [r.numpy() for r in tf.data.TFRecordDataset(str(copy / shard["file"]))]
    good = features.parse_example_bytes(raws[0])
    # Well-formed record, well-formed shard and manifest, but the image is not a JPEG.
    raws[0] = features.serialize_example(
        image_bytes=b"\xff\xd8\xff\xdb definitely not jpeg data", height=good["image/height"],
        width=good["image/width"], filename="bad_1.jpg", source_id="bad_1",
        mask_bytes=good[features.MASK_ENCODED])
    with tf.io.TFRecordWriter(str(copy / shard["file"])) as writer:
        for raw in raws:
            writer.write(raw)
    shard["sha256"] = sha256_file(copy / shard["file"])
    shard["bytes"] = (copy / shard["file"]).stat().st_size
    (copy / "manifest.json").write_text(json.dumps(manifest))
    assert verify_records(copy) == []
    problems = verify_records(copy, decode=True)
    assert len(problems) == 1 and "bad_1" in problems[0] and shard["file"] in problems[0]
    assert verify_records(records_dir, decode=True) == []
