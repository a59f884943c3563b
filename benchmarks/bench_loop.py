"""The active-learning loop, simulated: does labelling the most uncertain photos first beat
labelling them in random order?

    python benchmarks/bench_loop.py [--pool 300] [--test 120] [--start 8] [--step 8]
        [--rounds 6] [--seeds 0 1 2] [--steps 150] [--size 32] [--out bench_loop]

Data: generated multi-class scenes (segdata.synthetic.scenes: 4 classes with fixed colour and
texture + background, 2-8 objects per photo), an unlabelled pool and a held-out test split
drawn from the same distribution. Per seed and per order:

  round 0   label `--start` photos of the pool picked at random (the same for both orders)
  round r   train segkit's U-Net (base_filters 8, the run's seeded initialisation, adam 3e-3,
            `--steps` batches of 8 whatever the number labelled: the orders differ only in
            which photos were labelled), score the test split (mean IoU over the 5 classes,
            keras.metrics.MeanIoU), then "label" `--step` more photos from the ground truth:
              uncertainty  the highest mean per-pixel entropy of the model's class
                           probabilities (segmodel.evaluation.uncertainty, as segkit rank)
              random       uniformly among the unlabelled

Writes OUT.csv (seed, order, labelled, test_mean_iou, iou_0..iou_4 per class) and OUT.png
(mean over the seeds with the min-max band), and prints the table. Seeds make every number
reproducible on one machine (TensorFlow on CPU is deterministic here up to thread scheduling
of reductions).
"""

import argparse
import csv
import os
import platform
import time

import numpy as np

CLASSES = 4  # drawn classes; train ids 1..4, background 0


def make_data(count, size, seed):
    """(uint8 [N, H, W, 3] photos, uint8 [N, H, W] train ids) of generated scenes."""
    from segdata.synthetic import scenes

    rng = np.random.default_rng(seed)
    looks = scenes.class_looks(range(1, CLASSES + 1))
    images, labels = [], []
    for _ in range(count):
        shapes = scenes.random_objects(rng, size, size, range(1, CLASSES + 1),
                                       count=(2, int(rng.integers(2, 9))))
        images.append(scenes.render(rng, size, size, shapes, looks))
        labels.append(scenes.paint(shapes, size, size))
    return np.stack(images), np.stack(labels)


def train(x, y, size, steps, seed):
    """A seeded U-Net trained `steps` batches of 8 on (x, y)."""
    import keras
    import tensorflow as tf

    from segmodel.models.builtin import unet_model
    from segmodel.training.metrics import make_loss

    keras.utils.set_random_seed(seed)
    model = unet_model((size, size), CLASSES + 1, base_filters=8)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss=make_loss())
    ds = (tf.data.Dataset.from_tensor_slices((x.astype(np.float32), y[..., None]))
          .shuffle(len(x), seed=seed).repeat().batch(8))
    model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0)
    return model


def test_iou(model, x, y):
    """(mean IoU over the classes, [IoU of class 0..C-1]) on the test split."""
    import keras

    metric = keras.metrics.MeanIoU(num_classes=CLASSES + 1)
    pred = np.argmax(model.predict(x.astype(np.float32), batch_size=64, verbose=0), -1)
    metric.update_state(y.reshape(-1), pred.reshape(-1))
    matrix = metric.total_cm.numpy()
    union = matrix.sum(0) + matrix.sum(1) - np.diag(matrix)
    return float(metric.result()), list(np.diag(matrix) / np.maximum(union, 1))


def scores(model, x):
    """Mean per-pixel entropy of each photo (segkit rank's score)."""
    from segmodel.evaluation.uncertainty import entropy_score

    probs = model.predict(x.astype(np.float32), batch_size=64, verbose=0)
    return np.array([entropy_score(p) for p in probs])


def simulate(pool, test, args, seed, order):
    """[(labelled, test mean IoU, [test IoU per class])] for one seed and one order."""
    rng = np.random.default_rng(seed)
    labelled = list(np.random.default_rng(1000 + seed).choice(len(pool[0]), args.start,
                                                              replace=False))
    out = []
    for r in range(args.rounds):
        model = train(pool[0][labelled], pool[1][labelled], args.size, args.steps, seed)
        out.append((len(labelled), *test_iou(model, *test)))
        if r == args.rounds - 1:
            break
        rest = np.setdiff1d(np.arange(len(pool[0])), labelled)
        if order == "uncertainty":
            s = scores(model, pool[0][rest])
            picked = rest[np.argsort(-s, kind="stable")[:args.step]]
        else:
            picked = rng.choice(rest, args.step, replace=False)
        labelled += [int(i) for i in picked]
    return out


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for order, colour in (("uncertainty", "tab:red"), ("random", "tab:blue")):
        mine = [r for r in rows if r["order"] == order]
        counts = sorted({r["labelled"] for r in mine})
        by = [[r["test_mean_iou"] for r in mine if r["labelled"] == n] for n in counts]
        ax.plot(counts, [np.mean(v) for v in by], "o-", color=colour, label=order)
        ax.fill_between(counts, [min(v) for v in by], [max(v) for v in by], color=colour,
                        alpha=0.15)
    ax.set_xlabel("labelled photos")
    ax.set_ylabel("test mean IoU (5 classes)")
    ax.set_title("active learning on generated scenes: uncertainty vs random")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pool", type=int, default=300)
    p.add_argument("--test", type=int, default=120)
    p.add_argument("--start", type=int, default=8)
    p.add_argument("--step", type=int, default=8)
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=150, help="training batches per round")
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--out", default="bench_loop")
    args = p.parse_args(argv)
    started = time.perf_counter()
    pool = make_data(args.pool, args.size, seed=7)
    test = make_data(args.test, args.size, seed=8)
    rows = []
    for seed in args.seeds:
        for order in ("uncertainty", "random"):
            for labelled, iou, per_class in simulate(pool, test, args, seed, order):
                rows.append({"seed": seed, "order": order, "labelled": labelled,
                             "test_mean_iou": round(iou, 4),
                             **{f"iou_{c}": round(float(v), 4)
                                for c, v in enumerate(per_class)}})
                print(f"seed {seed} {order:<11} {labelled:>4} labelled: test mean IoU "
                      f"{iou:.4f}, per class {' '.join(f'{v:.2f}' for v in per_class)}",
                      flush=True)
    with open(f"{args.out}.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    plot(rows, f"{args.out}.png")
    print(f"\nmachine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
          f"seeds {args.seeds}; {time.perf_counter() - started:.0f} s")
    print("labelled | uncertainty (mean, min-max) | random (mean, min-max) | wins (unc > rand)")
    for n in sorted({r["labelled"] for r in rows}):
        cells = []
        for order in ("uncertainty", "random"):
            v = [r["test_mean_iou"] for r in rows if r["order"] == order and r["labelled"] == n]
            cells.append(f"{np.mean(v):.3f} ({min(v):.3f}-{max(v):.3f})")
        wins = sum(u["test_mean_iou"] > r["test_mean_iou"]
                   for u in rows if u["order"] == "uncertainty" and u["labelled"] == n
                   for r in rows if r["order"] == "random" and r["labelled"] == n
                   and r["seed"] == u["seed"])
        print(f"{n:>8} | {cells[0]} | {cells[1]} | {wins}/{len(args.seeds)}")


if __name__ == "__main__":
    main()
