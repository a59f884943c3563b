"""bench_sam.py --text: SAM 3 text-prompt latency (TextSegmenter vs keras-hub's predict)."""

import time

import numpy as np
from sam_timing import cpu_name, timed_phases


def text_latency(args):
    """SAM 3 text-prompt latency per image, at the preset's input size, random weights.

    Phases, one process, taking turns round by round (see `sam_timing.timed_phases`):
      keras-hub predict   SAM3PromptableConceptImageSegmenter.predict({"images", "prompts"})
                          on the photo with one text: keras-hub's own way (baseline), raw
                          outputs on the model's square only
      segment 1 text      TextSegmenter.segment(photo, "a cat", score_threshold=0): the
                          preset's preprocessor, the model, every query's mask mapped back to
                          the photo (the worst case for post-processing)
      segment 2 texts     the same with ["a cat", "a dog"] (one model call per text)
      segment <dtype>     one text with the whole backbone in each low precision of --dtypes
    """
    import keras
    import tensorflow as tf

    from segmodel.sam.models.sam3_architectures import build_sam3_segmenter
    from segmodel.sam.sam3.segmenter import TextSegmenter

    height, width = (int(v) for v in args.image_size.lower().split("x"))
    image = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    start = time.perf_counter()
    segmenter = build_sam3_segmenter(args.text_arch, image_size=args.text_input_size)
    build_s = time.perf_counter() - start
    text_seg = TextSegmenter(segmenter)
    print(f"# SAM 3 {args.text_arch}: {segmenter.count_params() / 1e6:.1f}M parameters, "
          f"{text_seg.image_size}-px input, {text_seg.num_queries} queries, built in "
          f"{build_s:.1f}s; photo {height}x{width}; random weights, hand-made vocabulary")
    print(f"# machine: {cpu_name()}, {__import__('os').cpu_count()} cores visible, TF "
          f"{tf.__version__}, Keras {keras.__version__}; GPUs: "
          f"{len(tf.config.list_physical_devices('GPU'))}")
    photo = image[None].astype("float32")
    chosen = args.text_phases.split(",")
    phases = {
        "keras-hub predict": lambda i: segmenter.predict(
            {"images": photo, "prompts": ["a cat"]}, verbose=0),
        "segment 1 text": lambda i: text_seg.segment(image, "a cat", score_threshold=0.0),
        "segment 2 texts": lambda i: text_seg.segment(image, ["a cat", "a dog"],
                                                      score_threshold=0.0),
    }
    phases = {name: fn for name, fn, key in zip(phases, phases.values(),
                                                ("predict", "segment", "segment2"))
              if key in chosen}
    for dtype in [d for d in args.dtypes.split(",") if d and d != "float32"]:
        low = TextSegmenter(segmenter, dtype=dtype)
        phases[f"segment {dtype}"] = lambda i, low=low: low.segment(image, "a cat",
                                                                    score_threshold=0.0)
    results = timed_phases(phases, args.repeats)
    base_name = next(iter(results))  # keras-hub predict unless left out
    base = results[base_name][1]
    print(f"\n| phase | first call s | median s | vs {base_name} | peak RSS MB |")
    print("|---|---|---|---|---|")
    for name, (first, median, peak) in results.items():
        print(f"| {name} | {first:.3f} | {median:.3f} | {median / base:.2f}x | {peak:.0f} |")
    return 0
