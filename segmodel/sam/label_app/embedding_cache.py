"""Image embeddings for the labelling page, computed ahead of time by one background thread.

SAM's image encoder is the slow part (seconds per photo on a CPU); its prompt encoder and mask
decoder take milliseconds. When the page shows a photo, the server `schedule`s that photo and
the one the user will probably go to next, so that moving on does not wait for the encoder;
a click waits (`get`) only for the embedding of its own photo, which jumps the queue. One
worker thread means at most one encoder run at a time: two would each run at half speed on a
small CPU and finish no sooner.
"""

import collections
import threading


class EmbeddingCache:
    """A least-recently-used cache of `SamPredictor.encode` results, filled by one thread.

    Args:
      predictor: a `SamPredictor`; only its `encode` is called here (thread-safe with
        `predict` running in another thread).
      load: `load(key)` -> uint8 `[H, W, 3]`; may raise (e.g. ValueError for a file that
        cannot be decoded); the error is kept and raised again by `get`.
      capacity: how many finished embeddings to keep (4 MiB each for the 1024-px presets).
      encode: `encode(pixels)` -> `ImageEmbedding`, by default `predictor.encode` in this
        process (e.g. `encoder_process.ProcessEncoder` runs it in a low-priority process).
    """

    def __init__(self, predictor, load, capacity=4, encode=None):
        if capacity < 2:
            raise ValueError(f"capacity must be >= 2 (current + next image), got {capacity}.")
        self._encode = encode or predictor.encode
        self._load, self._capacity = load, capacity
        self._cond = threading.Condition()
        self._done = collections.OrderedDict()  # key -> ImageEmbedding or Exception
        self._queue = collections.deque()
        self._awaited = collections.Counter()  # key -> get() calls waiting for it
        self._running = None
        self._closed = False
        self._thread = threading.Thread(target=self._work, name="sam-encoder", daemon=True)
        self._thread.start()

    def ready(self, key):
        """True if `key`'s embedding (or its error) is computed."""
        with self._cond:
            return key in self._done

    def schedule(self, keys):
        """Encode `keys` next, in this order, and drop other queued keys (the user moved on:
        an image prefetched for where they were is not worth a minute of CPU). Keys that a
        `get` is waiting for stay first; computed or running keys are not queued again."""
        with self._cond:
            awaited = [k for k in self._queue if self._awaited[k]]
            wanted = [k for k in keys if k not in self._done and k != self._running]
            self._queue = collections.deque(dict.fromkeys(awaited + wanted))
            self._cond.notify_all()

    def queued(self):
        """The keys waiting to be encoded, next first."""
        with self._cond:
            return list(self._queue)

    def get(self, key, timeout=None):
        """The embedding of `key`, computing it next if needed; blocks until it is there.

        Raises:
          whatever `load` or the encoder raised for `key`; TimeoutError after `timeout` s.
        """
        with self._cond:
            if key not in self._done and key != self._running:
                if key in self._queue:
                    self._queue.remove(key)
                self._queue.appendleft(key)
                self._cond.notify_all()
            self._awaited[key] += 1
            try:
                done = self._cond.wait_for(lambda: key in self._done or self._closed, timeout)
            finally:
                self._awaited[key] -= 1
            if not done:
                raise TimeoutError(f"No embedding for {key!r} after {timeout} s.")
            if key not in self._done:
                raise RuntimeError("The embedding cache is closed.")
            self._done.move_to_end(key)
            result = self._done[key]
        if isinstance(result, Exception):
            raise result
        return result

    def close(self, timeout=None):
        """Stop the worker after its current image (waits up to `timeout` s for it; the
        thread is a daemon); waiting `get` calls raise."""
        with self._cond:
            self._closed = True
            self._queue.clear()
            self._cond.notify_all()
        self._thread.join(timeout)

    def _work(self):
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._queue or self._closed)
                if self._closed:
                    return
                key = self._running = self._queue.popleft()
            try:
                result = self._encode(self._load(key))
            except Exception as err:  # noqa: BLE001 - handed to the caller of get()
                result = err
            with self._cond:
                self._running = None
                self._done[key] = result
                while len(self._done) > self._capacity:
                    self._done.popitem(last=False)
                self._cond.notify_all()
