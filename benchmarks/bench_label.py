"""Click-to-overlay latency of the labelling page (tools/label_app.py), on sam_base_sa1b's
architecture (ViT-B, 1024 px, random weights: speed does not depend on them).

    python benchmarks/bench_label.py [--arch sam_base] [--clicks 10] [--side 500]
                                     [--no-browser] [--encoder process|thread]

In one process, on generated 375x500-ish photos, after the first image is encoded:
  library      labelling.union_mask on the cached embedding (SamPredictor.predict), no HTTP:
               the baseline
  server       POST /api/predict round trip from Python: JSON in, mask PNG + base64 out
  browser      a click on the page's canvas to the overlay painted (Chromium via Playwright;
               label.js records mouseup -> requestAnimationFrame after the overlay is drawn)
each for one point (best multimask candidate) and for a box with two points (single mask).
Rows marked busy start while the next image is encoded in the background (what a user sees
right after moving on); "idle" rows come after that embedding is done. --encoder process (the
tool's default) runs the encoder in a low-priority process, thread in the server's process.
Then it reports how long the background encoding of the next image took, i.e. how long a
user must spend on an image for the next one to be ready when they move on.

Two more rows need no model (a tiny random SAM serves the page, with classes):
  brush        a brush drag on the page's canvas: each mouse move to the overlay repainted
               (label.js records the move's timeStamp -> requestAnimationFrame after the
               repaint); goal: median <= 30 ms
  accept       POST /api/accept of two objects with edited masks (mask_png) into a masks
               folder already holding 10 and 1,000 labelled images (written with MasksFolder,
               the batch writer): the accept writes the image, mask and part only; the COCO
               and prompts files are rebuilt from the parts in the background at most once a
               second, whose cost (O(folder)) is reported as "rebuild"
--rows picks the sections (default: clicks brush accept).
"""

import argparse
import os
import pathlib
import platform
import shutil
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from label_edits import edit_rows  # noqa: E402
from label_page import CHROMIUM, browser_available, median_ms, post  # noqa: E402


def _prompts(width, height, count, kind, seed):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        x, y = float(rng.uniform(0.2, 0.8) * width), float(rng.uniform(0.2, 0.8) * height)
        if kind == "point":
            out.append([{"points": [[x, y]], "labels": [1], "box": None}])
        else:
            out.append([{"points": [[x, y], [x + 10, y + 5]], "labels": [1, 0],
                         "box": [max(0.0, x - 80), max(0.0, y - 60), min(width, x + 90),
                                 min(height, y + 70)]}])
    return out


def _peak_mb(pid):
    """Resident-set high-water mark of a process, MB (Linux; nan elsewhere)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def _library(session, name, cases):
    from segmodel.sam.labelling import entries as labelling

    times = []
    for objects in cases:
        start = time.perf_counter()
        session.predict(name, objects)  # normalise + cached embedding + union_mask
        times.append(1000 * (time.perf_counter() - start))
    # The same through the library alone, to show the session adds nothing measurable.
    predictor = session.predictor
    raw = []
    for objects in cases:
        with session.predict_lock:  # the bench shares the session's lock
            predictor.set_embedding(session.cache.get(name))
            start = time.perf_counter()
            labelling.union_mask(predictor, labelling.normalize_prompts({"objects": objects}))
            raw.append(1000 * (time.perf_counter() - start))
    return raw, times


def _server(server, name, cases):
    times, server_ms = [], []
    for objects in cases:
        start = time.perf_counter()
        answer = post(server, "/api/predict", {"image": name, "objects": objects})
        times.append(1000 * (time.perf_counter() - start))
        server_ms.append(answer["ms"])
    return times, server_ms


def _browser_clicks(page, width, height, cases):
    """Per case: Esc (clear), then click its first point or drag its box; returns the
    page's click-to-overlay latencies (ms)."""
    box = page.locator("canvas#view").bounding_box()
    sx, sy = box["width"] / width, box["height"] / height
    page.evaluate("window.segkitLatencies = []")
    for count, objects in enumerate(cases, 1):
        page.keyboard.press("Escape")
        page.wait_for_function("!('maskArea' in document.getElementById('view').dataset)")
        obj = objects[0]
        if obj["box"] is None:
            x, y = obj["points"][0]
            page.mouse.click(box["x"] + x * sx, box["y"] + y * sy)
        else:
            x0, y0, x1, y1 = obj["box"]
            page.mouse.move(box["x"] + x0 * sx, box["y"] + y0 * sy)
            page.mouse.down()
            page.mouse.move(box["x"] + x1 * sx, box["y"] + y1 * sy, steps=3)
            page.mouse.up()
        page.wait_for_function(f"window.segkitLatencies.length >= {count}", timeout=600_000)
    return page.evaluate("window.segkitLatencies")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--arch", default="sam_base", help="segmodel.sam.models.architectures name")
    p.add_argument("--clicks", type=int, default=10, help="prompts per row")
    p.add_argument("--side", type=int, default=500, help="longest photo side")
    p.add_argument("--no-browser", action="store_true", help="skip the Chromium rows")
    p.add_argument("--encoder", choices=("process", "thread"), default="process",
                   help="where the image encoder runs (label_app's --encoder)")
    p.add_argument("--rows", nargs="+", choices=("clicks", "brush", "accept"),
                   default=["clicks", "brush", "accept"], help="sections to run")
    p.add_argument("--folder-sizes", type=int, nargs="+", default=[10, 1000],
                   help="labelled images in the folder for the accept rows")
    args = p.parse_args(argv)
    work = pathlib.Path(tempfile.mkdtemp(prefix="bench_label_"))
    try:
        if "clicks" in args.rows:
            _click_rows(args, work)
        if "brush" in args.rows or "accept" in args.rows:
            edit_rows(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)  # the ViT-B preset is 375 MB
    print(f"machine: {platform.processor() or platform.machine()}, "
          f"{len(os.sched_getaffinity(0))} cores; load average "
          f"{' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    return 0


def _click_rows(args, work):

    from segdata.synthetic.pets import make_sample_data
    from segmodel.sam.label_app.app import start, stop
    from segmodel.sam.models.architectures import build_sam_segmenter

    pets = make_sample_data(work / "pets", 3, seed=0, min_side=int(args.side * 0.75),
                            max_side=args.side)
    photos = pathlib.Path(pets) / "images"
    t0 = time.perf_counter()
    build_sam_segmenter(args.arch).save_to_preset(str(work / "preset"))
    print(f"built and saved {args.arch} in {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    server = start(photos, work / "out", str(work / "preset"), port=0, encoder=args.encoder)
    session = server.session
    print(f"server ready (first image encoded, prompt path traced) in "
          f"{time.perf_counter() - t0:.1f} s; {server.url}")
    names = session.names
    first, following = names[0], names[1]
    height, width = session.load_pixels(first).shape[:2]
    rows = {}
    page = browser = playwright = None
    try:
        use_browser = not args.no_browser and browser_available()
        if use_browser:
            from playwright.sync_api import sync_playwright

            playwright = sync_playwright().start()
            browser = playwright.chromium.launch(executable_path=CHROMIUM)
            page = browser.new_page(viewport={"width": 1200, "height": 800})
            page.goto(server.url)
            page.wait_for_function(f"document.getElementById('view').width === {width}")
        encode_started = time.perf_counter()  # start() already queued the next image
        for kind in ("point", "box"):
            cases = _prompts(width, height, args.clicks, kind, seed=len(rows))
            busy = not session.cache.ready(following)
            raw, lib = _library(session, first, cases)
            http, server_ms = _server(server, first, cases)
            rows[f"library {kind}"] = (raw, busy)
            rows[f"session {kind}"] = (lib, busy)
            rows[f"server {kind} (round trip)"] = (http, busy)
            rows[f"server {kind} (in handler)"] = (server_ms, busy)
            if page is not None:
                busy = not session.cache.ready(following)
                rows[f"browser {kind}"] = (_browser_clicks(page, width, height, cases), busy)
        session.cache.get(following)
        encode_s = time.perf_counter() - encode_started
        # Idle: the next embedding is done, nothing runs in the background.
        for kind in ("point", "box"):
            cases = _prompts(width, height, args.clicks, kind, seed=10 + len(rows))
            raw, _ = _library(session, first, cases)
            rows[f"library {kind} idle"] = (raw, False)
            rows[f"server {kind} idle (round trip)"] = (_server(server, first, cases)[0], False)
            if page is not None:
                rows[f"browser {kind} idle"] = (_browser_clicks(page, width, height, cases),
                                                False)
        # Moving on: the next image's embedding is cached, so its first click is a click.
        t0 = time.perf_counter()
        post(server, "/api/predict", {"image": following, "objects": _prompts(
            *session.load_pixels(following).shape[1::-1], 1, "point", 99)[0]})
        next_first_ms = 1000 * (time.perf_counter() - t0)
        memory = _peak_mb("self"), None
        if session.encoder is not None:
            memory = memory[0], _peak_mb(session.encoder.pid)
    finally:
        if browser is not None:
            browser.close()
            playwright.stop()
        stop(server)
        shutil.rmtree(work / "preset", ignore_errors=True)

    base = median_ms(rows["library point idle"][0])
    print(f"\n{args.arch} random weights, photo {width}x{height}, {args.clicks} clicks per row, "
          f"encoder in a {args.encoder}; medians")
    print("| path | encoder busy at row start | median ms | p90 ms | vs library idle |")
    print("|---|---|---|---|---|")
    for name, (values, busy) in rows.items():
        med = median_ms(values)
        p90 = float(np.percentile(values, 90)) if values else float("nan")
        print(f"| {name} | {'yes' if busy else 'no'} | {med:.1f} | {p90:.1f} | "
              f"{med / base:.2f}x |")
    print(f"\nnext image encoded in the background in {encode_s:.1f} s after the page "
          f"opened; its first click then took {next_first_ms:.1f} ms (embedding cached)")
    print(f"peak RSS: server process {memory[0]:.0f} MB" + (
        f", encoder process {memory[1]:.0f} MB" if memory[1] else ""))


if __name__ == "__main__":
    raise SystemExit(main())
