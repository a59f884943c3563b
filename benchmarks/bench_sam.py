"""SamPredictor vs the chapter's way of prompting SAM, on sam_base_sa1b's architecture.

    python benchmarks/bench_sam.py [--arch sam_base] [--repeats 2] [--prompts 10]
                                   [--dtypes float32,bfloat16]
    python benchmarks/bench_sam.py --text [--text-arch sam3_pcs] [--repeats 2]
                                   [--dtypes float32,bfloat16]

Weights are random (no downloads here); speed does not depend on them. In one process:
  set_image   SamPredictor.set_image: resize + pad + the ViT image encoder, once per image
  prompt      SamPredictor.predict after set_image: prompt encoder + mask decoder +
              post-processing to the image size
  chapter     the chapter's way: SAMImageSegmenter.predict on the resized-and-padded image
              with the prompt, i.e. the whole model for every prompt (baseline)
and set_image again with the image encoder in each low precision in --dtypes.
--phases generate times SamAutomaticMaskGenerator.generate (encoder included) at each of
--points-per-side and --points-per-batch (64 at a time vs one at a time); --thresholds
none also times it with every filter off (all 3 x points candidates post-processed, the
worst case: random weights make the default filters' pass rate meaningless).
With --text, SAM 3 text prompts instead (see `text_latency` in sam_text.py).
Times are medians of --repeats (--prompts for `prompt`) after one warm-up call, the heavy
phases taking turns round by round; peak memory is the process's resident-set high-water
mark during the phase's calls (Linux).
"""

import argparse
import statistics
import time

import numpy as np
from sam_text import text_latency
from sam_timing import cpu_name, timed_call, timed_phases


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", default="sam_base", help="sam_base | sam_large | sam_huge | tiny")
    parser.add_argument("--repeats", type=int, default=2, help="timed calls per heavy phase")
    parser.add_argument("--prompts", type=int, default=10, help="timed prompts after set_image")
    parser.add_argument("--dtypes", default="float32,bfloat16",
                        help="image-encoder precisions to time set_image with")
    parser.add_argument("--image-size", default="375x500", help="HxW of the test photo")
    parser.add_argument("--phases", default="predictor,generate",
                        help="predictor (set_image / prompt / chapter) and/or generate")
    parser.add_argument("--points-per-side", default="16,32",
                        help="automatic-mask grids to time (generate phase)")
    parser.add_argument("--points-per-batch", default="64,1",
                        help="decoder batch sizes to time generate with (generate phase)")
    parser.add_argument("--thresholds", default="default,none",
                        help="generate with segment-anything's default filters and/or none")
    parser.add_argument("--text", action="store_true",
                        help="time SAM 3 text prompts (TextSegmenter) instead")
    parser.add_argument("--text-arch", default="sam3_pcs", help="sam3_pcs | tiny")
    parser.add_argument("--text-input-size", type=int, default=None,
                        help="with --text: model input size (default: the preset's, 1008 "
                             "for sam3_pcs); smaller sizes keep the architecture but cut "
                             "time and memory")
    parser.add_argument("--text-phases", default="predict,segment,segment2",
                        help="with --text: which of predict, segment, segment2 to time "
                             "(plus one segment per low precision in --dtypes)")
    args = parser.parse_args(argv)
    if args.text:
        return text_latency(args)

    import keras
    import tensorflow as tf
    from keras import ops

    from segmodel.sam import SamPredictor
    from segmodel.sam.models.architectures import build_sam_segmenter

    height, width = (int(v) for v in args.image_size.lower().split("x"))
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    clicks = np.stack([rng.uniform(0, width, args.prompts + 1),
                       rng.uniform(0, height, args.prompts + 1)], axis=1).astype(np.float32)

    start = time.perf_counter()
    segmenter = build_sam_segmenter(args.arch)
    build_s = time.perf_counter() - start
    side = segmenter.backbone.image_encoder.input_shape[1]
    print(f"# {args.arch}: {segmenter.count_params() / 1e6:.1f}M parameters, {side}-px encoder, "
          f"built in {build_s:.1f}s; photo {height}x{width}")
    print(f"# machine: {cpu_name()}, {len(tf.config.list_physical_devices('CPU'))} CPU "
          f"device(s), {__import__('os').cpu_count()} cores visible, TF {tf.__version__}, "
          f"Keras {keras.__version__}; GPUs: {len(tf.config.list_physical_devices('GPU'))}")

    predictor = SamPredictor(segmenter)
    if "generate" in args.phases:
        _bench_generate(predictor, image, args)
    if "predictor" not in args.phases:
        return 0

    # The chapter's way: pad to a square with ops.image.resize(pad_to_aspect_ratio=True),
    # then run the whole segmenter (its preprocessor scales 0..255 to 0..1) per prompt.
    scale = side / max(height, width)
    offset = ((side - height * scale) / 2, (side - width * scale) / 2)

    def chapter(i):
        padded = ops.image.resize(image.astype("float32"), (side, side),
                                  pad_to_aspect_ratio=True)
        point = clicks[i] * scale + np.array([offset[1], offset[0]], np.float32)
        return segmenter.predict({
            "images": ops.expand_dims(padded, 0),
            "points": np.array([[point, [0, 0]]], np.float32),
            "labels": np.array([[1, -1]], np.float32),
        }, verbose=0)

    phases = {"set_image": lambda i: predictor.set_image(image), "chapter": chapter}
    for dtype in [d for d in args.dtypes.split(",") if d and d != "float32"]:
        low = SamPredictor(segmenter, dtype=dtype)
        phases[f"set_image {dtype}"] = lambda i, low=low: low.set_image(image)
    results = timed_phases(phases, args.repeats)
    # Prompts are milliseconds: time them back to back on the last set_image.
    predictor.set_image(image)
    results["prompt"] = timed_phases(
        {"prompt": lambda i: predictor.predict(clicks[i : i + 1], [1])}, args.prompts
    )["prompt"]

    base, chapter_s = results["set_image"][1], results["chapter"][1]
    print("\n| phase | first call s | median s | vs set_image | vs chapter call | peak RSS MB |")
    print("|---|---|---|---|---|---|")
    for name, (first, median, peak) in results.items():
        print(f"| {name} | {first:.3f} | {median:.4f} | {median / base:.4f}x | "
              f"{median / chapter_s:.4f}x | {peak:.0f} |")
    prompt_s = results["prompt"][1]
    ten = base + 10 * prompt_s
    print(f"\nprompt / set_image = {prompt_s / base:.4f} (goal <= 0.1): "
          f"{'met' if prompt_s <= 0.1 * base else 'NOT met'}")
    print(f"one image, ten prompts: set_image + 10 prompts = {ten:.2f}s vs 10 chapter calls "
          f"= {10 * chapter_s:.2f}s ({10 * chapter_s / ten:.1f}x faster); two chapter calls "
          f"= {2 * chapter_s:.2f}s")
    for name in results:
        if name.startswith("set_image "):
            print(f"{name}: {base / results[name][1]:.2f}x the float32 set_image speed")
    return 0


def _bench_generate(predictor, image, args):
    """generate() per image, batched vs one prompt at a time, against set_image."""
    import tensorflow as tf

    from segmodel.sam import SamAutomaticMaskGenerator
    from segmodel.sam.automatic import amg

    settings = {"default": {}, "none": dict(pred_iou_thresh=0.0, stability_score_thresh=0.0)}
    gens = {k: SamAutomaticMaskGenerator(predictor, **v) for k, v in settings.items()
            if k in args.thresholds.split(",")}
    # Warm-up: one encoder run, then trace the decoder at each batch size and each
    # generator's batch graph on dummy inputs (later calls reuse these traces).
    predictor.set_image(image)
    for batch in {int(v) for v in args.points_per_batch.split(",")}:  # B > 1 is XLA-compiled
        predictor.decode_batch(np.ones((batch, 1, 2)), np.ones((batch, 1), np.int32))
    low = predictor.low_res_size
    sizes = (tf.constant(predictor.input_size), tf.constant(predictor.original_size))
    for gen in gens.values():
        gen.filter_candidates(tf.zeros([3, low, low]), tf.ones([3]), *sizes)
    phases, counts = {"set_image": lambda i: predictor.set_image(image)}, {}
    for side in (int(v) for v in args.points_per_side.split(",")):
        for kind, gen in gens.items():
            for batch in (int(v) for v in args.points_per_batch.split(",")):
                if batch != 64 and kind != "default":
                    continue  # the filters do not change the decoder's cost per batch

                def run(i, gen=gen, side=side, batch=batch, name=None):
                    gen.point_grid = amg.build_point_grid(side)
                    gen.points_per_side, gen.points_per_batch = side, batch
                    return len(gen.generate(image))
                name = f"generate {side}x{side}, batch {batch}, filters {kind}"
                phases[name] = (lambda i, run=run, name=name:
                                counts.__setitem__(name, run(i)))
    # One timed call per generate phase (each runs the encoder and takes seconds to tens of
    # seconds); set_image, the baseline, is timed twice before and twice after them and
    # its median taken, so one slow encoder run does not skew every ratio.
    set_image = phases.pop("set_image")
    encoder = [timed_call(set_image, i) for i in range(2)]
    results = {name: timed_call(fn, 0) for name, fn in phases.items()}
    encoder += [timed_call(set_image, i) for i in range(2)]
    results = {"set_image": (statistics.median(t for t, _ in encoder),
                             max(m for _, m in encoder)), **results}
    base = results["set_image"][0]
    print("\n| automatic masks (one image) | seconds | vs set_image | masks | peak RSS MB |")
    print("|---|---|---|---|---|")
    for name, (seconds, peak) in results.items():
        print(f"| {name} | {seconds:.2f} | {seconds / base:.2f}x | {counts.get(name, '')} | "
              f"{peak:.0f} |", flush=True)
    for name in results:
        if name.startswith("generate"):
            print(f"{name}: {results[name][0] - base:.1f}s beyond the encoder")


if __name__ == "__main__":
    raise SystemExit(main())
