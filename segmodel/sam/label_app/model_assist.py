"""The labelling page's model: pre-labels for each opened photo and the uncertainty queue.

`ModelAssist` wraps a `segmodel.serving.model_runner.ModelRunner` for a `ClassLabelSession`:

  pre-labels  the model's arg-max split into objects (`segmodel.sam.labelling.prelabels`),
              sent to the page as objects with "source": "model", a box prompt (the region's
              box, so a click on the object re-prompts it with SAM) and "mask_png"; the
              pre-label as shown is kept to tell, on accept, what the labeller changed.
  scores      mean per-pixel entropy of the class probabilities
              (`segmodel.evaluation.uncertainty`), for `--order uncertainty`.

The model runs under one lock (runtimes are not all thread-safe); pre-labels of the last
`cache_size` photos are kept, recomputed (deterministically) when evicted.
"""

import collections
import threading

from segmodel.evaluation import uncertainty
from segmodel.sam.label_app.masks_io import mask_b64
from segmodel.sam.labelling import prelabels


class ModelAssist:
    """Pre-labels and scores from one model for one folder's classes.

    Args:
      runner: a `ModelRunner` (or a path for `segmodel.serving.runtimes.load_runner`).
      class_list: the folder's `ClassList` (checked against the model's classes).
      min_area: regions smaller than this (pixels) are not pre-labelled.
      cache_size: photos whose pre-labels are kept in memory.
    """

    def __init__(self, runner, class_list, min_area=0, cache_size=8):
        if not hasattr(runner, "probabilities"):
            from segmodel.serving.runtimes import load_runner

            runner = load_runner(runner)
        self.runner = runner
        self.prelabeller = prelabels.PreLabeller(runner, class_list, min_area)
        self.classes = class_list
        self._lock = threading.Lock()
        self._cache = collections.OrderedDict()
        self._cache_size = cache_size

    @property
    def path(self):
        return str(self.runner.path)

    def prelabel(self, name, load_pixels):
        """(objects, uint8 `[H, W]` pre-label as painted) of photo `name`; `load_pixels(name)`
        gives its uint8 `[H, W, 3]`. objects: [{"mask", "category_id", "box"}]."""
        with self._lock:
            if name in self._cache:
                self._cache.move_to_end(name)
                return self._cache[name]
            pixels = load_pixels(name)
            objects = self.prelabeller.objects(pixels)
            label = prelabels.paint([(o["mask"], o["category_id"]) for o in objects],
                                    pixels.shape[:2])
            self._cache[name] = (objects, label)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
            return objects, label

    def page_objects(self, name, load_pixels):
        """The pre-label as the page's objects: {"class", "points": [], "labels": [], "box",
        "mask_png", "source": "model"}."""
        objects, _ = self.prelabel(name, load_pixels)
        return [{"class": self.classes.names[o["category_id"] - 1], "points": [],
                 "labels": [], "box": o["box"], "mask_png": mask_b64(o["mask"]),
                 "source": "model"} for o in objects]

    def scores(self, names, load_pixels):
        """{name: mean per-pixel entropy (nats)} of photos `names` (unreadable ones left out)."""
        out = {}
        for name in names:
            try:
                pixels = load_pixels(name)
            except ValueError:
                continue
            with self._lock:
                out[name] = uncertainty.entropy_score(self.prelabeller.probabilities(pixels))
        return out
