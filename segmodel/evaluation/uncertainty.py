"""What to label next: photos scored by a model's uncertainty, most uncertain first.

The score of a photo is the mean over its pixels of the entropy of the model's class
probabilities, in nats: -sum_c p_c log p_c, at the photo's own size (probabilities resized
bilinearly, as for the pre-labels and segkit predict). 0 = certain everywhere; log(C) = a
uniform guess everywhere. Ties keep name order.

    runner = segmodel.serving.runtimes.load_runner("runs/pets/model.keras")
    ranked = rank_images(runner, ["photos/a.jpg", ...])    # [(name, score)], highest first
    write_rank_csv("rank.csv", ranked)                      # image,score
"""

import csv
import io
import pathlib

import numpy as np

from segdata.io.atomic import write_text_atomic

METHOD = "mean per-pixel entropy of the class probabilities (nats)"


def entropy_map(probabilities):
    """float `[..., H, W, C]` probabilities -> float32 `[..., H, W]` entropy in nats (0 log 0 = 0)."""
    p = np.asarray(probabilities, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log(p), 0.0)
    return terms.sum(axis=-1).astype(np.float32)


def entropy_score(probabilities):
    """float `[H, W, C]` probabilities -> the photo's score (mean per-pixel entropy, nats)."""
    return float(entropy_map(probabilities).mean())


def order(scores):
    """{name: score} -> names, highest score first, ties by name."""
    return sorted(scores, key=lambda name: (-scores[name], name))


def score_images(runner, paths, progress=None, failed=None):
    """{file name: score} of each photo.

    Args:
      runner: a `segmodel.serving.model_runner.ModelRunner`.
      paths: photo files (read as segkit reads photos: RGB, no EXIF rotation).
      progress: optional callable(done, total), e.g. a tqdm update.
      failed: optional list: photos that cannot be decoded are appended as "name: reason"
        and left out; without it they raise.

    Raises:
      ValueError naming a photo that cannot be decoded (when `failed` is None).
    """
    from segmodel.sam.prompting.files import load_image
    from segmodel.serving.runtimes import probabilities_at

    paths = [pathlib.Path(p) for p in paths]
    scores = {}
    for done, path in enumerate(paths, 1):
        try:
            image = load_image(path)
        except ValueError as err:
            if failed is None:
                raise
            failed.append(f"{path.name}: {err}")
        else:
            scores[path.name] = entropy_score(probabilities_at(runner, image))
        if progress is not None:
            progress(done, len(paths))
    return scores


def rank_images(runner, paths, progress=None, failed=None):
    """[(file name, score)] most uncertain first (see `score_images`)."""
    scores = score_images(runner, paths, progress, failed)
    return [(name, scores[name]) for name in order(scores)]


def write_rank_csv(path, ranked):
    """Write `image,score` rows (header first) atomically; scores with 6 decimals."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["image", "score"])
    for name, score in ranked:
        writer.writerow([name, f"{score:.6f}"])
    write_text_atomic(pathlib.Path(path), buffer.getvalue())


def read_rank_csv(path):
    """`write_rank_csv`'s file -> {image: score}."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if rows and not {"image", "score"} <= set(rows[0]):
        raise ValueError(f"{path}: expected the columns image,score, got {sorted(rows[0])}")
    return {row["image"]: float(row["score"]) for row in rows}
