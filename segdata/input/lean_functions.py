"""`Dataset.map` and `Dataset.interleave` whose functions start without Grappler.

Every iterator (every epoch of `fit`, every `evaluate`, every `for batch in ds`) instantiates the
pipeline's functions anew, and TensorFlow runs Grappler on each of them as it does: about 0.25 ms
of one core per graph node. The decode function (~140 nodes) took 26 ms, the shard reader's ~30 ms
more, in series before the first record: a tenth of a 500-image pass on two cores, while the
decode limit's 17-node function took 8 ms (benchmarks/bench_pipeline.py).

A function marked `experimental_ints_on_device` is instantiated on one device without Grappler
(tf.data's own `copy_to_device` marks its functions so). On the CPU, where tf.data functions run,
the mark changes nothing else, and Grappler has little to give there: it already leaves constant
folding off for tf.data functions. Measured: the decode map's start-up 26 ms -> 5 ms, the same
CPU per record, the same values.

The mark can only be set through tf.data's internal function wrapper, so these helpers build the
same dataset ops as `Dataset.map` / `Dataset.interleave` (ParallelMapDatasetV2, MapDataset,
ParallelInterleaveDatasetV4: the graph, its serialization for the tf.data service and its
options are those of the public API). Where the internals are missing (another TensorFlow
release) or tf.data debug mode is on, they call the public methods: slower to start, same
results. `LEAN` says which path is active; tests/test_lean_functions.py fails if the pinned
TensorFlow loses it.
"""

import inspect

import tensorflow as tf

try:  # TensorFlow internals (tensorflow ~=2.21); see the module docstring
    from tensorflow.python.data.ops import dataset_ops, debug_mode, readers, structured_function
    from tensorflow.python.ops import gen_dataset_ops

    LEAN = ("defun_kwargs" in inspect.signature(
        structured_function.StructuredFunctionWrapper).parameters
            and hasattr(gen_dataset_ops, "parallel_map_dataset_v2")
            and hasattr(gen_dataset_ops, "parallel_interleave_dataset_v4")
            and hasattr(dataset_ops, "UnaryDataset")
            and hasattr(readers, "_TFRecordDataset"))
except (ImportError, AttributeError, ValueError, TypeError):
    LEAN = False

_MARK = "experimental_ints_on_device"


def map(dataset, fn, num_parallel_calls=None, deterministic=None):  # noqa: A001
    """`dataset.map(fn, num_parallel_calls, deterministic)`, fn instantiated without Grappler.

    Args:
      dataset: a tf.data.Dataset.
      fn: function of one element (unpacked like `Dataset.map` does) -> new element.
      num_parallel_calls: None (sequential), an int or tf.data.AUTOTUNE.
      deterministic: None (the dataset's options decide), True or False.

    Returns:
      tf.data.Dataset of fn's outputs, in the structure `Dataset.map` would give.
    """
    public = lambda: dataset.map(fn, num_parallel_calls=num_parallel_calls,  # noqa: E731
                                 deterministic=deterministic)
    if not _lean_now():
        return public()
    wrapped = _wrap(fn, "Dataset.map()", dataset)
    if any(t.dtype == tf.int32 for t in wrapped.function.outputs):
        # A marked function returns int32 through _DeviceRetval instead of _Retval, and
        # tf.data's own rewrites (inject_prefetch, ...) then take its body for a pipeline
        # ("Expected only one fetch node"). Rare in a pipeline; those pay Grappler.
        return public()
    return _LeanMap(dataset, wrapped, num_parallel_calls, deterministic)


def interleave(dataset, fn, cycle_length, block_length=1,
               num_parallel_calls=tf.data.AUTOTUNE, deterministic=None):
    """`dataset.interleave(fn, cycle_length, block_length, num_parallel_calls,
    deterministic)` (parallel), fn instantiated without Grappler.

    Args:
      dataset: a tf.data.Dataset.
      fn: function of one element -> tf.data.Dataset.
      cycle_length, block_length: ints, as for `Dataset.interleave`.
      num_parallel_calls: an int or tf.data.AUTOTUNE.
      deterministic: None, True or False.

    Returns:
      tf.data.Dataset of the elements of fn's datasets.
    """
    if not _lean_now():
        return dataset.interleave(fn, cycle_length=cycle_length, block_length=block_length,
                                  num_parallel_calls=num_parallel_calls,
                                  deterministic=deterministic)
    return _LeanInterleave(dataset, _wrap(fn, "Dataset.interleave()", dataset), cycle_length,
                           block_length, num_parallel_calls, deterministic)


def tfrecord_file(path, compression=""):
    """`tf.data.TFRecordDataset(path, compression)` for one file, without a function.

    The public class wraps even one file in a `flat_map`, whose function is instantiated, with
    Grappler, for every shard of every pass (with `Dataset.counter`'s `scan`, ~25 ms of CPU per
    pass of 4 shards, in series with the shuffle buffer's fill). This is the reader op it wraps.

    Args:
      path: scalar string, one TFRecord file.
      compression: "" or "GZIP".

    Returns:
      tf.data.Dataset of serialized records, string [].
    """
    if not LEAN:
        return tf.data.TFRecordDataset(path, compression_type=compression)
    return readers._TFRecordDataset(path, compression)


def _lean_now():
    return LEAN and not debug_mode.DEBUG_MODE


def _wrap(fn, transformation, dataset):
    return structured_function.StructuredFunctionWrapper(
        fn, transformation, dataset=dataset, defun_kwargs={_MARK: True})


def _int64(value):
    return tf.convert_to_tensor(value, dtype=tf.int64)


def _deterministic(value):
    return "default" if value is None else ("true" if value else "false")


if LEAN:
    class _LeanDataset(dataset_ops.UnaryDataset):
        """One input, one dataset op, one Grappler-free function: subclasses set `_fn` (from
        `_wrap`) before building the op."""

        def __init__(self, dataset, variant):
            self._input_dataset = dataset
            super().__init__(dataset, variant)

        def _functions(self):
            return [self._fn]

    class _LeanMap(_LeanDataset):
        """Dataset.map()'s dataset op with a Grappler-free function (see module docstring)."""

        def __init__(self, dataset, wrapped, num_parallel_calls, deterministic):
            self._fn, self._name = wrapped, None  # _name is read by _common_args
            common = dict(f=wrapped.function, use_inter_op_parallelism=True,
                          preserve_cardinality=True, **self._common_args)
            if num_parallel_calls is None:
                variant = gen_dataset_ops.map_dataset(
                    dataset._variant_tensor, wrapped.function.captured_inputs, **common)
            else:
                variant = gen_dataset_ops.parallel_map_dataset_v2(
                    dataset._variant_tensor, wrapped.function.captured_inputs,
                    num_parallel_calls=_int64(num_parallel_calls),
                    deterministic=_deterministic(deterministic), **common)
            super().__init__(dataset, variant)

        @property
        def element_spec(self):
            return self._fn.output_structure

    class _LeanInterleave(_LeanDataset):
        """Dataset.interleave()'s parallel dataset op with a Grappler-free function."""

        def __init__(self, dataset, wrapped, cycle_length, block_length, num_parallel_calls,
                     deterministic):
            if not isinstance(wrapped.output_structure, tf.data.DatasetSpec):
                raise TypeError("interleave: fn must return a tf.data.Dataset, got "
                                f"{wrapped.output_structure!r}")
            self._fn, self._name = wrapped, None  # _name is read by _common_args
            self._structure = wrapped.output_structure.element_spec
            variant = gen_dataset_ops.parallel_interleave_dataset_v4(
                dataset._variant_tensor, wrapped.function.captured_inputs,
                _int64(cycle_length), _int64(block_length),
                _int64(tf.data.AUTOTUNE), _int64(tf.data.AUTOTUNE),  # buffer, prefetch inputs
                _int64(num_parallel_calls), f=wrapped.function,
                deterministic=_deterministic(deterministic), **self._common_args)
            super().__init__(dataset, variant)

        @property
        def element_spec(self):
            return self._structure
