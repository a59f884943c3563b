"""load_dataset under tf.distribute: per-replica batches, and shards split across pipelines."""

import json
import subprocess
import sys
import textwrap

import pytest
import tensorflow as tf

from segdata import load_dataset

# Logical devices must be configured before TensorFlow runs any op, once per process, so the
# 2-replica run gets a fresh interpreter.
MIRRORED = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from segdata import load_dataset

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    make = lambda ctx: load_dataset(sys.argv[1], "train", image_size=(32, 32), batch_size=8,
                                    shuffle=True, seed=1, augment=True, input_context=ctx)
    ds = strategy.distribute_datasets_from_function(make)
    @tf.function
    def step(batch):
        # Runs in replica context: each replica sees its own half of the global batch.
        return strategy.run(lambda images, masks: (tf.shape(images)[0], tf.reduce_sum(
            tf.cast(masks < 3, tf.int32))), args=batch)

    sizes, pixels = [], 0
    for batch in ds:
        count, labelled = step(batch)
        sizes.append([int(c) for c in strategy.experimental_local_results(count)])
        pixels += sum(int(p) for p in strategy.experimental_local_results(labelled))
    print("RESULT", json.dumps({"replicas": strategy.num_replicas_in_sync, "sizes": sizes,
                                "pixels": pixels}))
""")


def test_two_replica_mirrored_strategy(records_dir):
    proc = subprocess.run([sys.executable, "-c", MIRRORED, str(records_dir)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [s for s in proc.stdout.splitlines() if s.startswith("RESULT ")][-1]
    result = json.loads(line[len("RESULT "):])
    assert result["replicas"] == 2
    assert result["sizes"][0] == [4, 4]  # global batch 8 -> 4 per replica
    assert sum(map(sum, result["sizes"])) == 36  # every train example once per epoch
    assert result["pixels"] == 36 * 32 * 32  # every pixel a class id 0..2


def fingerprints(ds):
    """One hash per example (image and mask bytes): identifies examples across pipelines."""
    return [hash(i.tobytes() + m.tobytes())
            for images, masks in ds for i, m in zip(images.numpy(), masks.numpy())]


def contexts(n):
    return [tf.distribute.InputContext(num_input_pipelines=n, input_pipeline_id=i,
                                       num_replicas_in_sync=2 * n) for i in range(n)]


def test_shards_split_by_file_across_pipelines(records_dir):
    everything = fingerprints(load_dataset(records_dir, "train", image_size=(16, 16)))
    parts = [fingerprints(load_dataset(records_dir, "train", image_size=(16, 16), batch_size=8,
                                       input_context=ctx)) for ctx in contexts(2)]
    assert [len(p) for p in parts] == [18, 18]  # one 18-example shard file each
    assert sorted(parts[0] + parts[1]) == sorted(everything)


def test_too_few_shards_split_by_example_with_a_warning(records_dir):
    everything = fingerprints(load_dataset(records_dir, "train", image_size=(16, 16)))
    parts = []
    for ctx in contexts(3):
        with pytest.warns(UserWarning, match="2 shard file.*3 input pipelines.*--num-shards"):
            ds = load_dataset(records_dir, "train", image_size=(16, 16), batch_size=6,
                              shuffle=True, input_context=ctx)
        parts.append(fingerprints(ds))
    assert [len(p) for p in parts] == [12, 12, 12]
    assert sorted(sum(parts, [])) == sorted(everything)  # disjoint, nothing lost
