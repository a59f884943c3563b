"""Image embeddings for the labelling page, computed ahead of time by one background thread.

SAM's image encoder is the slow part (seconds per photo on a CPU); its prompt encoder and mask
decoder take milliseconds. The page asks for the embedding of the photo it shows (`get`,
urgent: it jumps the queue) and of the photo the user will probably go to next (`prefetch`),
so that moving on does not wait for the encoder. One worker thread means at most one encoder
run at a time: two would each run at half speed on a small CPU and finish no sooner.
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
        self._running = None
        self._closed = False
        self._thread = threading.Thread(target=self._work, name="sam-encoder", daemon=True)
        self._thread.start()

    def ready(self, key):
        """True if `key`'s embedding (or its error) is computed."""
        with self._cond:
            return key in self._done

    def prefetch(self, key):
        """Queue `key` behind earlier requests unless it is computed, queued or running."""
        with self._cond:
            if key not in self._done and key not in self._queue and key != self._running:
                self._queue.append(key)
                self._cond.notify_all()

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
            if not self._cond.wait_for(lambda: key in self._done or self._closed, timeout):
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
