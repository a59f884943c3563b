"""segdata.input.lean_functions: map / interleave whose functions start without Grappler must give
exactly what Dataset.map / Dataset.interleave give, and keep their mark where it matters."""

import numpy as np
import pytest
import tensorflow as tf

from segdata.input import lean_functions as lean
from segdata.input.lean_functions import _MARK


def values(ds):
    return [tf.nest.map_structure(lambda t: np.asarray(t.numpy()).tolist(), x) for x in ds]


def pairs():
    return tf.data.Dataset.from_tensor_slices(
        {"x": tf.range(12, dtype=tf.int64), "s": tf.constant([f"r{i}" for i in range(12)])})


def transform(item, scale=tf.constant(3, tf.int64)):  # a captured tensor, strings, a dict
    return {"y": item["x"] * scale + 1, "tag": tf.strings.join([item["s"], "!"])}


def test_the_pinned_tensorflow_has_the_lean_path():
    # If a TensorFlow upgrade drops the internals, load_dataset still works through the public
    # methods but starts every epoch ~50 ms slower: this test says so instead of a benchmark.
    assert lean.LEAN


@pytest.mark.parametrize("parallel", [None, 2, tf.data.AUTOTUNE])
def test_map_gives_what_dataset_map_gives(parallel):
    deterministic = None if parallel is None else True
    got = lean.map(pairs(), transform, num_parallel_calls=parallel, deterministic=deterministic)
    want = pairs().map(transform, num_parallel_calls=parallel, deterministic=deterministic)
    assert got.element_spec == want.element_spec
    assert values(got) == values(want)
    assert values(got)[4] == {"y": 13, "tag": b"r4!"}
    assert got.cardinality().numpy() == 12  # cardinality preserved, as Dataset.map does


def test_map_unpacks_tuples_like_dataset_map():
    ds = tf.data.Dataset.from_tensor_slices((tf.range(3), tf.range(3) * 10))
    got = lean.map(ds, lambda a, b: a + b, num_parallel_calls=2)
    assert values(got) == [0, 11, 22]


def test_interleave_gives_what_dataset_interleave_gives():
    starts = tf.data.Dataset.range(0, 40, 10)
    make = lambda s: tf.data.Dataset.range(s, s + 4 + s // 10)  # noqa: E731 (uneven lengths)
    got = lean.interleave(starts, make, cycle_length=2, block_length=1, deterministic=True)
    want = starts.interleave(make, cycle_length=2, block_length=1,
                             num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    assert got.element_spec == want.element_spec
    assert values(got) == values(want)
    assert sorted(values(got)) == sorted(v for s in range(0, 40, 10) for v in range(s, s + 4 + s // 10))


def test_interleave_rejects_a_function_that_does_not_return_a_dataset():
    with pytest.raises(TypeError, match="must return a tf.data.Dataset"):
        lean.interleave(tf.data.Dataset.range(3), lambda x: x * 2, cycle_length=1)


def test_errors_raised_inside_the_function_reach_the_caller():
    def check(x):
        with tf.control_dependencies([tf.debugging.Assert(x < 5, ["segkit: value", x, "too big"])]):
            return tf.identity(x)

    with pytest.raises(tf.errors.InvalidArgumentError, match="segkit: value"):
        values(lean.map(tf.data.Dataset.range(8), check, num_parallel_calls=2))


def serialized_functions(ds):
    graph = tf.compat.v1.GraphDef.FromString(
        tf.raw_ops.DatasetToGraphV2(input_dataset=ds._variant_tensor).numpy())
    return {f.signature.name: f for f in graph.library.function}


def test_the_mark_travels_in_the_serialized_graph():
    # The tf.data service and tf.distribute rebuild pipelines from this serialized graph: the
    # functions there must still carry the mark, or the workers pay Grappler again.
    ds = lean.map(pairs(), transform, num_parallel_calls=2)
    ds = lean.interleave(ds.batch(3), lambda b: tf.data.Dataset.from_tensor_slices(b),
                         cycle_length=2)
    marked = {name for name, f in serialized_functions(ds).items()
              if _MARK in f.attr and f.attr[_MARK].b}
    assert len(marked) == 2, sorted(serialized_functions(ds))
    plain = pairs().map(transform, num_parallel_calls=2)
    assert not any(_MARK in f.attr for f in serialized_functions(plain).values())


def test_without_the_internals_the_public_methods_are_used(monkeypatch):
    monkeypatch.setattr(lean, "LEAN", False)
    got = lean.map(pairs(), transform, num_parallel_calls=2, deterministic=True)
    assert not any(_MARK in f.attr for f in serialized_functions(got).values())
    assert values(got) == values(pairs().map(transform))
    inter = lean.interleave(tf.data.Dataset.range(2), lambda x: tf.data.Dataset.range(x, x + 2),
                            cycle_length=1)
    assert values(inter) == [0, 1, 1, 2]


def test_a_pipeline_function_with_control_flow_and_random_ops_runs_lean():
    # augment_pair (tf.cond, stateless random ops, crop_and_resize) runs in a lean map.
    from segdata.input.transforms import augment_pair

    images = tf.data.Dataset.from_tensors(
        (tf.random.uniform([8, 8, 3], 0, 255), tf.ones([8, 8, 1], tf.uint8))).repeat(4)
    seeds = tf.data.Dataset.from_tensor_slices(tf.constant([[1, 2], [3, 4], [5, 6], [1, 2]],
                                                           tf.int64))
    zipped = tf.data.Dataset.zip((images, seeds))
    fn = lambda pair, s: augment_pair(pair[0], pair[1], s)  # noqa: E731
    got = [x for x in lean.map(zipped, fn, num_parallel_calls=2)]
    want = [x for x in zipped.map(fn)]
    for (gi, gm), (wi, wm) in zip(got, want):
        np.testing.assert_allclose(gi.numpy(), wi.numpy(), atol=1e-4)
        np.testing.assert_array_equal(gm.numpy(), wm.numpy())
    np.testing.assert_allclose(got[0][0].numpy(), got[3][0].numpy(), atol=1e-4)  # same seed


def test_int32_outputs_take_the_public_path_and_still_work():
    # int32 results of a marked function leave through _DeviceRetval, which tf.data's own
    # rewrites (with the autotuner on) mistake for a pipeline's outputs; such functions must
    # come out unmarked, and work under tf.data's default options.
    fn = lambda x: {"a": x, "n": tf.shape(tf.zeros([x, 2]))[:1]}  # noqa: E731
    got = lean.map(tf.data.Dataset.range(4), fn, num_parallel_calls=2).padded_batch(2)
    assert not any(_MARK in f.attr for f in serialized_functions(got).values())
    assert [v["n"] for v in values(got)] == [[[0], [1]], [[2], [3]]]


@pytest.mark.parametrize("compression", ["", "GZIP"])
def test_tfrecord_file_reads_what_tfrecorddataset_reads(tmp_path, compression):
    path = str(tmp_path / "part.tfrecord")
    with tf.io.TFRecordWriter(path, options=compression or None) as writer:
        for i in range(5):
            writer.write(f"record {i}".encode() * (i + 1))
    got = [r.numpy() for r in lean.tfrecord_file(tf.constant(path), compression)]
    assert got == [r.numpy() for r in tf.data.TFRecordDataset(path, compression_type=compression)]
    assert got[3] == b"record 3" * 4
    # and no function to instantiate per file, unlike the public class (a flat_map)
    assert serialized_functions(lean.tfrecord_file(tf.constant(path), compression)) == {}
    assert serialized_functions(tf.data.TFRecordDataset(path)) != {}
