"""load_dataset through the tf.data service: one dispatcher and two workers in this process."""

import shutil

import pytest
import tensorflow as tf

from segdata import load_dataset
from segdata.input.service import start_dispatcher, start_worker

pytestmark = pytest.mark.slow

SIZE = (24, 24)


_SERVERS = []  # alive until the test process exits (stopping a worker takes ~10 s)


def local_service(workers):
    """grpc://localhost:PORT of a new dispatcher with `workers` registered workers."""
    dispatcher = start_dispatcher()
    _SERVERS.extend([dispatcher] + [start_worker(dispatcher.target) for _ in range(workers)])
    return dispatcher.target


@pytest.fixture(scope="module")
def service():
    return local_service(2)


def examples(ds):
    """[(image bytes, mask bytes)] of every example, sorted: identifies examples anywhere."""
    return sorted((i.tobytes(), m.tobytes())
                  for images, masks in ds for i, m in zip(images.numpy(), masks.numpy()))


def test_distributed_epoch_delivers_every_example_once(records_dir, service):
    local = examples(load_dataset(records_dir, "train", image_size=SIZE, batch_size=8))
    assert len(local) == 36 and len(set(local)) == 36
    ds = load_dataset(records_dir, "train", image_size=SIZE, batch_size=8, shuffle=True,
                      seed=3, service=service)
    assert ds.element_spec[0].shape.as_list() == [None, *SIZE, 3]
    for _ in range(2):  # each epoch: every example exactly once, masks equal the local ones
        served = examples(ds)
        assert served == local
    # The trainer re-batches what the workers send: full batches but the last, ceil(36 / 8)
    # of them, so an epoch's length is known (fit needs it) whatever the workers' split.
    assert [len(images) for images, _ in ds] == [8, 8, 8, 8, 4]
    dropped = load_dataset(records_dir, "train", image_size=SIZE, batch_size=8, shuffle=True,
                           seed=3, service=service, drop_remainder=True)
    assert [len(images) for images, _ in dropped] == [8, 8, 8, 8]


def test_fewer_shards_than_workers_still_delivers_each_example_once(records_dir):
    local = examples(load_dataset(records_dir, "validation", image_size=SIZE, batch_size=6))
    served = examples(load_dataset(records_dir, "validation", image_size=SIZE, batch_size=6,
                                   service=local_service(3)))  # 2 shard files, 3 workers
    assert served == local


def test_parallel_epochs_gives_each_worker_a_whole_epoch(records_dir, service):
    local = examples(load_dataset(records_dir, "validation", image_size=SIZE, batch_size=6))
    served = examples(load_dataset(records_dir, "validation", image_size=SIZE, batch_size=6,
                                   service=service, service_mode="parallel_epochs"))
    assert served == sorted(local * 2)  # two workers, each example once per worker


def test_corrupt_shard_error_names_the_file_through_the_service(records_dir, service,
                                                                 tmp_path):
    records = tmp_path / "records"
    shutil.copytree(records_dir, records)
    shard = records / "pets-train.tfrecord-00001-of-00002"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    ds = load_dataset(records, "train", image_size=SIZE, batch_size=8, service=service)
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=f"segkit: shard .*{shard.name} is corrupt: read"):
        for _ in ds:
            pass


def test_bad_service_arguments_are_refused_before_any_work(records_dir):
    with pytest.raises(ValueError, match="service_mode must be one of"):
        load_dataset(records_dir, "train", service="grpc://localhost:1", service_mode="epochs")
    with pytest.raises(ValueError, match="grpc://HOST:PORT"):
        load_dataset(records_dir, "train", service="localhost:1")
    with pytest.raises(ValueError, match="cache cannot be combined with service"):
        load_dataset(records_dir, "train", service="grpc://localhost:1", cache=True)


def test_data_service_tool_parses_both_roles():
    from segmodel.cli import data_service as tool

    args = tool.build_parser().parse_args(["worker", "--dispatcher", "h:5050", "--port", "7"])
    assert (args.role, args.dispatcher, args.port) == ("worker", "h:5050", 7)
    assert tool.main(["dispatcher", "--fault-tolerant"]) == 2  # needs --work-dir
    assert tool.build_parser().parse_args(["dispatcher"]).port == 5050


def test_fit_through_the_service_runs_whole_epochs(records_dir, service, tmp_path):
    import warnings

    from segmodel.training import loop as training

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        summary = training.train(records_dir, tmp_path / "run", model="chapter", image_size=32,
                                 batch_size=12, epochs=2, seed=0, precision="float32",
                                 tensorboard=False, verbose=0, log=lambda line: None,
                                 data_service=service)
    assert summary["epochs_completed"] == 2
    assert not [w for w in caught if "ran out of data" in str(w.message)]
