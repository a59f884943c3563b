"""`--runner beam` (Apache Beam DirectRunner) builds the local runner's record set, byte for byte."""

import hashlib
import json
import os
import sys

import pytest

pytest.importorskip("apache_beam", reason="the beam extra (pip install 'segkit[beam]') is needed")

from segdata.records import beam_convert, beam_shards  # noqa: E402
from segdata.records.convert import BuildError, StrictError, build_records  # noqa: E402
from segmodel.cli import build_records as build_records_tool  # noqa: E402

pytestmark = pytest.mark.beam

RUN_FIELDS = ("build",)  # how the set was built (runner, workers, seconds): may differ


@pytest.fixture(scope="module")
def quirky(quirky_pets_dir):
    """A generated set with every real-world quirk (repaired, skipped, ignored samples)."""
    return quirky_pets_dir


def _files(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.iterdir())}


def _without_run_fields(manifest):
    return {k: v for k, v in manifest.items() if k not in RUN_FIELDS}


@pytest.mark.parametrize("flags,beam_options", [
    (["--split", "official", "--num-shards", "3"], None),
    (["--split", "holdout", "--val-size", "6", "--num-shards", "2", "--compression", "gzip"],
     "--runner=DirectRunner --direct_num_workers=2 --direct_running_mode=multi_threading"),
], ids=["official-3-shards", "holdout-gzip-2-threads"])
def test_beam_build_equals_local_build_file_for_file(quirky, tmp_path, flags, beam_options):
    local, beam = tmp_path / "local", tmp_path / "beam"
    assert build_records_tool.main(["--data-dir", str(quirky), "--output-dir", str(local),
                                    "--workers", "1", "--no-progress"] + flags) == 0
    argv = ["--data-dir", str(quirky), "--output-dir", str(beam), "--runner", "beam"] + flags
    assert build_records_tool.main(argv + (["--beam-options", beam_options]
                                           if beam_options else [])) == 0
    a = json.loads((local / "manifest.json").read_text())
    b = json.loads((beam / "manifest.json").read_text())
    assert b["build"]["runner"] == "beam" and b["build"]["beam_runner"] == "DirectRunner"
    assert _without_run_fields(a) == _without_run_fields(b)
    assert b["skipped"] and b["repaired"]  # the quirks really went through both runners
    shards = [s for info in b["splits"].values() for s in info["shards"]]
    assert len(shards) >= 3
    assert b["compression"] == ("gzip" if "gzip" in flags else "none")
    files_a, files_b = _files(local), _files(beam)
    assert files_a.keys() == files_b.keys()
    for name in files_a.keys() - {"manifest.json"}:
        assert files_a[name] == files_b[name], name
    for shard in shards:  # and the manifest's SHA-256 is the file's
        assert files_b[shard["file"]] == shard["sha256"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["beam", "local"]  # no temp folders


def _failing_write(element, tmp, prefix, compression):
    (split, shard), _ = element
    if split == "train" and shard == 1:
        raise OSError("disk full (planted)")
    return beam_shards.__dict__["_real_write_shard"](element, tmp, prefix, compression)


def test_failed_pipeline_leaves_no_manifest_and_keeps_the_old_set(quirky, tmp_path,
                                                                   monkeypatch, capsys):
    monkeypatch.setitem(beam_shards.__dict__, "_real_write_shard", beam_shards.write_shard)
    monkeypatch.setattr(beam_shards, "write_shard", _failing_write)
    fresh = tmp_path / "fresh"
    assert build_records_tool.main(["--data-dir", str(quirky), "--output-dir", str(fresh),
                                    "--runner", "beam", "--num-shards", "3"]) == 1
    assert "disk full" in capsys.readouterr().err
    assert not fresh.exists()
    old = tmp_path / "old"
    build_records(quirky, old, num_shards=2, workers=1, progress=False)
    before = _files(old)
    with pytest.raises(beam_convert.PipelineError, match="DirectRunner"):
        beam_convert.build_records_beam(quirky, old, num_shards=3, overwrite=True)
    assert _files(old) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old"]  # temp folder removed


def test_strict_writes_nothing(quirky, tmp_path):
    out = tmp_path / "strict"
    with pytest.raises(StrictError, match="5 sample"):
        beam_convert.build_records_beam(quirky, out, strict=True)
    assert not out.exists() and not list(tmp_path.iterdir())


def test_clear_errors_without_beam_and_for_local_only_flags(quirky, tmp_path, monkeypatch,
                                                            capsys):
    monkeypatch.setitem(sys.modules, "apache_beam", None)  # import apache_beam -> ImportError
    with pytest.raises(BuildError, match=r"segkit\[beam\]"):
        beam_convert.build_records_beam(quirky, tmp_path / "x")
    assert build_records_tool.main(["--data-dir", str(quirky), "--output-dir",
                                    str(tmp_path / "x"), "--runner", "beam"]) == 2
    assert "needs Apache Beam" in capsys.readouterr().err
    for extra in (["--runner", "beam", "--workers", "2"], ["--beam-options", "--runner=X"]):
        with pytest.raises(SystemExit) as e:
            build_records_tool.main(["--data-dir", str(quirky), "--output-dir",
                                     str(tmp_path / "x")] + extra)
        assert e.value.code == 2
    assert not (tmp_path / "x").exists()
    # A URL output is for the Beam runner; the local one must not write a folder named "gs:".
    assert build_records_tool.main(["--data-dir", str(quirky), "--output-dir",
                                    "gs://bucket/records"]) == 2
    assert "--runner beam" in capsys.readouterr().err


def test_output_on_a_non_local_filesystem(quirky, tmp_path):
    # TensorFlow's in-memory ram:// filesystem stands in for gs:// (the DirectRunner runs in
    # this process, so its workers see it): no folder rename, files moved one by one, manifest
    # last. gzip: TFDS metadata (written through etils, which has no ram://) is not written.
    import tensorflow as tf

    gfile, out = tf.io.gfile, f"ram://segkit-beam-{os.getpid()}/records"
    local = tmp_path / "local"
    a = build_records(quirky, local, compression="gzip", workers=1, progress=False)
    try:
        for overwrite in (False, True):  # the second run replaces the first set in place
            b = beam_convert.build_records_beam(quirky, out, compression="gzip",
                                                overwrite=overwrite)
            assert _without_run_fields(a) == _without_run_fields(b)
            names = sorted(gfile.listdir(out))
            assert names == sorted(p.name for p in local.iterdir())
            for name in names:
                with gfile.GFile(f"{out}/{name}", "rb") as fh:
                    data = fh.read()
                if name != "manifest.json":
                    assert data == (local / name).read_bytes(), name
                else:
                    assert _without_run_fields(json.loads(data)) == _without_run_fields(a)
        assert not gfile.glob(f"ram://segkit-beam-{os.getpid()}/.records.*")
    finally:
        gfile.rmtree(f"ram://segkit-beam-{os.getpid()}")


def test_source_folder_on_a_non_local_filesystem(quirky, tmp_path):
    # Dataflow workers cannot see the launcher's disk: the source may be a URL too (ram://
    # standing in for gs://). Same shards as the local build of the local copy.
    import tensorflow as tf

    gfile, src = tf.io.gfile, f"ram://segkit-beam-src-{os.getpid()}/pets"
    for path in quirky.rglob("*"):
        if path.is_file():
            rel = path.relative_to(quirky).as_posix()
            gfile.makedirs(f"{src}/{os.path.dirname(rel)}".rstrip("/"))
            with gfile.GFile(f"{src}/{rel}", "wb") as fh:
                fh.write(path.read_bytes())
    try:
        a = build_records(quirky, tmp_path / "local", num_shards=3, workers=1, progress=False)
        b = beam_convert.build_records_beam(src, tmp_path / "beam", num_shards=3)
        assert b["source"] == src and a["source"] == str(quirky)
        same = lambda m: {k: v for k, v in _without_run_fields(m).items() if k != "source"}
        assert same(a) == same(b)
        assert b["ignored"]["count"] == 3 and len(b["skipped"]) == 5
        files_a, files_b = _files(tmp_path / "local"), _files(tmp_path / "beam")
        assert files_a.keys() == files_b.keys()
        for name in files_a.keys() - {"manifest.json"}:
            assert files_a[name] == files_b[name], name
    finally:
        gfile.rmtree(f"ram://segkit-beam-src-{os.getpid()}")
