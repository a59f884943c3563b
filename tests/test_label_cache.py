"""EmbeddingCache (the labelling page's background encoder queue) with a stand-in encoder:
order, urgency, dropping stale work, errors and eviction, without TensorFlow."""

import threading
import time

import pytest

from segmodel.sam.label_app.embedding_cache import EmbeddingCache


class Encoder:
    """Records what it encodes; each call blocks until the test releases it."""

    def __init__(self):
        self.calls, self.release, self.started = [], threading.Semaphore(0), threading.Event()

    def __call__(self, pixels):
        self.calls.append(pixels)
        self.started.set()
        assert self.release.acquire(timeout=10)
        return f"embedding of {pixels}"


def _load(key):
    if key == "broken":
        raise ValueError("cannot decode broken")
    return key


@pytest.fixture
def cache():
    encoder = Encoder()
    cache = EmbeddingCache(None, _load, capacity=2, encode=encoder)
    cache.encoder = encoder
    yield cache
    for _ in range(10):
        encoder.release.release()
    cache.close(timeout=5)


def test_schedule_drops_stale_work_and_get_jumps_the_queue(cache):
    encoder = cache.encoder
    cache.schedule(["a", "b", "c"])
    assert encoder.started.wait(5)  # "a" is running
    assert cache.queued() == ["b", "c"]
    cache.schedule(["d", "e"])  # the user moved on: b and c are not worth encoding now
    assert cache.queued() == ["d", "e"]
    waiter = threading.Thread(target=lambda: setattr(cache, "got", cache.get("x")))
    waiter.start()
    deadline = time.monotonic() + 10
    while cache.queued()[:1] != ["x"] and time.monotonic() < deadline:
        time.sleep(0.01)
    cache.schedule(["e"])  # a key that get() waits for is never dropped
    assert cache.queued() == ["x", "e"]
    for _ in range(3):
        encoder.release.release()
    waiter.join(5)
    assert cache.got == "embedding of x"
    assert encoder.calls[:2] == ["a", "x"]
    assert cache.get("e") == "embedding of e"
    assert encoder.calls == ["a", "x", "e"]


def test_errors_are_raised_by_get_and_old_entries_evicted(cache):
    encoder = cache.encoder
    with pytest.raises(ValueError, match="cannot decode broken"):
        cache.get("broken")  # _load fails before the encoder runs
    for _ in range(2):
        encoder.release.release()
    assert cache.get("a") == "embedding of a"
    assert cache.get("b") == "embedding of b"
    assert cache.ready("b") and not cache.ready("broken")  # capacity 2: oldest evicted
    cache.schedule(["b"])  # computed: not queued again
    assert cache.queued() == []
    with pytest.raises(TimeoutError):  # the encoder is not released for "c"
        cache.get("c", timeout=0.2)
    with pytest.raises(ValueError, match="capacity"):
        EmbeddingCache(None, _load, capacity=1, encode=encoder)
