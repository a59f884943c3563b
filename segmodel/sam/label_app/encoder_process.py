"""SAM's image encoder in a separate low-priority process, for the labelling page.

On a CPU the encoder (seconds per photo) and the prompt path (milliseconds per click) share the
cores. In one process they also share TensorFlow's thread pool, so a click that arrives while
the next photo is being encoded in the background queues behind the encoder's ops and takes
as long as a good part of an encoder run. In a process of its own with a higher nice value,
the encoder only gets the CPU time that clicks leave free: the operating system, not
TensorFlow, decides who goes first. The price is a second copy of the model in memory.
"""

import multiprocessing
import os

import tensorflow as tf

from segmodel.sam.prompting.embedding import ImageEmbedding


def _serve(preset, dtype, niceness, conn):
    """The child: load SAM, then encode every uint8 [H, W, 3] array received until None."""
    if niceness:
        os.nice(niceness)
    try:
        from segmodel.sam.prompting.predictor import SamPredictor

        predictor = SamPredictor.from_preset(preset, dtype=dtype)
    except Exception as err:  # noqa: BLE001 - reported to the parent
        conn.send(("error", RuntimeError(f"The encoder process could not load {preset!r}: "
                                         f"{type(err).__name__}: {err}")))
        return
    conn.send(("ready", None))
    while True:
        pixels = conn.recv()
        if pixels is None:
            return
        try:
            out = predictor.encode(pixels)
            conn.send(("ok", (out.embedding.numpy(), out.original_size, out.input_size)))
        except Exception as err:  # noqa: BLE001 - raised again in the parent
            conn.send(("error", err))


class ProcessEncoder:
    """`encode(pixels) -> ImageEmbedding`, computed by a child process that loads `preset`.

    Args:
      preset: a keras-hub SAM preset name or local preset folder (as for
        `SamPredictor.from_preset`); must give the same model as the predictor that uses
        the embeddings.
      dtype: the encoder precision, as for `SamPredictor.from_preset`.
      niceness: added to the child's nice value (Unix); 10 leaves clicks most of the CPU.

    Call from one thread at a time (EmbeddingCache's worker). `close` ends the child.
    """

    def __init__(self, preset, dtype=None, niceness=10):
        context = multiprocessing.get_context("spawn")  # fork would copy TF's threads
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve, name="sam-encoder", daemon=True,
                                        args=(os.fspath(preset), dtype, niceness, child))
        self._process.start()
        child.close()
        self._ready = False

    @property
    def pid(self):
        """The encoder process's id (benchmarks read its peak memory)."""
        return self._process.pid

    def _receive(self):
        try:
            return self._conn.recv()
        except EOFError:
            code = self._process.exitcode
            raise RuntimeError(f"The encoder process stopped (exit code {code}); out of "
                               "memory? Restart label_app, or use --encoder thread.") from None

    def wait_ready(self):
        """Block until the child has loaded SAM; raises its loading error."""
        if not self._ready:
            kind, payload = self._receive()
            if kind == "error":
                raise payload
            self._ready = True

    def __call__(self, pixels):
        self.wait_ready()
        self._conn.send(pixels)
        kind, payload = self._receive()
        if kind == "error":
            raise payload
        embedding, original_size, input_size = payload
        return ImageEmbedding(embedding=tf.constant(embedding),
                              original_size=tuple(original_size), input_size=tuple(input_size))

    def close(self):
        try:
            self._conn.send(None)
        except (BrokenPipeError, OSError):
            pass
        self._process.join(timeout=30)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join()
        self._conn.close()
