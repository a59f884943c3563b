"""bench_label.py's rows that need no model: brush drags on the page and accepts into masks
folders of growing size (a tiny random SAM serves the page, with classes)."""

import pathlib
import time

import numpy as np
from label_page import CHROMIUM, browser_available, post, row
from PIL import Image


def photo_folder(folder, count, side, seed=0):
    """`count` names for one generated photo (the accept rows time the folder, not decoding)."""
    from segdata.synthetic.pets import make_sample_data

    pets = make_sample_data(folder.parent / f"{folder.name}_src", 1, seed=seed,
                            min_side=int(side * 0.75), max_side=side)
    data = next((pathlib.Path(pets) / "images").glob("*.jpg")).read_bytes()
    folder.mkdir()
    for k in range(count):
        (folder / f"img_{k:05d}.jpg").write_bytes(data)
    return sorted(folder.iterdir())


def blobs(height, width, k):
    yy, xx = np.mgrid[:height, :width]
    cx, cy = width * (0.3 + 0.05 * (k % 5)), height * 0.5
    first = ((xx - cx) / (width * 0.2)) ** 2 + ((yy - cy) / (height * 0.25)) ** 2 < 1
    second = ((xx - width * 0.7) / (width * 0.15)) ** 2 + ((yy - cy) / (height * 0.2)) ** 2 < 1
    return first, second


def edit_rows(args, work):
    from segmodel.sam.label_app.app import start, stop
    from segmodel.sam.labelling.classes import ClassList
    from segmodel.sam.labelling.masks_folder import MasksFolder
    from segmodel.testing import save_tiny_sam

    classes = ClassList(("cat", "dog"))
    tiny = save_tiny_sam(work / "tiny", 0)
    print("\nno model involved (tiny random SAM); median / p90 ms")
    print("| path | median ms | p90 ms | n | note |")
    print("|---|---|---|---|---|")
    if "brush" in args.rows and not args.no_browser and browser_available():
        from playwright.sync_api import sync_playwright

        photos = photo_folder(work / "brush_photos", 1, args.side)[0].parent
        server = start(photos, work / "brush_out", str(tiny), port=0, classes=classes)
        width, height = server.session.image_size(server.session.names[0])
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM)
            try:
                page = browser.new_page(viewport={"width": 1200, "height": 800})
                page.goto(server.url)
                page.wait_for_function(f"document.getElementById('view').width === {width}")
                box = page.locator("canvas#view").bounding_box()
                page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
                page.wait_for_function("document.getElementById('view').dataset.predictions >= 1")
                page.locator("#brush-size").fill("24")
                page.evaluate("document.activeElement.blur()")
                page.keyboard.press("b")
                page.mouse.move(box["x"] + box["width"] * 0.1, box["y"] + box["height"] * 0.2)
                page.mouse.down()
                moves = max(40, 4 * args.clicks)
                for k in range(1, moves + 1):
                    page.mouse.move(box["x"] + box["width"] * (0.1 + 0.8 * k / moves),
                                    box["y"] + box["height"] * (0.2 + 0.6 * (k % 7) / 7))
                page.mouse.up()
                page.wait_for_function(f"window.segkitBrushLatencies.length >= {moves + 1}")
                row(f"browser brush move -> overlay ({width}x{height})",
                     page.evaluate("window.segkitBrushLatencies"), "goal: median <= 30")
            finally:
                browser.close()
                stop(server)
    if "accept" not in args.rows:
        return
    for size in args.folder_sizes:
        paths = photo_folder(work / f"photos_{size}", size, args.side, seed=1)
        out = work / f"out_{size}"
        with Image.open(paths[0]) as img:
            width, height = img.size
        masks = [blobs(height, width, k) for k in range(5)]
        t0 = time.perf_counter()
        with MasksFolder(out, classes, refresh_seconds=None) as folder:  # the batch writer
            for k, path in enumerate(paths):
                first, second = masks[k % 5]
                folder.write(path.name, path, [{"mask": first, "class": "cat"},
                                               {"mask": second, "class": "dog"}])
        prefill_s = time.perf_counter() - t0
        for refresh in (0, None):  # 0: the page's default, the JSON files rebuilt in the accept
            times, written, rebuild_ms = accepts(start, stop, paths, out, tiny, classes,
                                                  masks, refresh, max(40, 4 * args.clicks))
            coco = (out / "annotations" / "instances.json").stat().st_size
            note = (f"{written / 1024:.0f} KiB written per accept; rebuild {rebuild_ms:.0f} ms "
                    f"(instances.json {coco / 1024:.0f} KiB)")
            if refresh is None:
                note = "rebuild timer off: the accept path alone; " + note
            else:
                note += f", inside every accept (the page's default); prefill {prefill_s:.1f} s"
            row(f"accept, folder of {size} labelled" + (" (no timer)" if refresh is None
                                                         else ""), times, note)


def accepts(start, stop, paths, out, tiny, classes, masks, refresh, count):
    """`count` accepts of two edited objects, relabelling the folder's images (its size
    stays); -> (ms each, bytes written per accept, ms of one full rebuild)."""
    from segmodel.sam.label_app.masks_io import mask_b64

    with Image.open(paths[0]) as img:
        width, height = img.size
    server = start(paths[0].parent, out, str(tiny), port=0, classes=classes,
                   refresh_seconds=refresh)
    try:
        times, folder = [], server.session.folder
        before = dict(folder.accept_stats)
        for k in range(count):
            first, second = masks[(k + 1) % 5]
            objects = [{"points": [[width * 0.3, height * 0.5]], "labels": [1], "box": None,
                        "class": "cat", "mask_png": mask_b64(first)},
                       {"points": [[width * 0.7, height * 0.5]], "labels": [1], "box": None,
                        "class": "dog", "mask_png": mask_b64(second)}]
            start_t = time.perf_counter()
            post(server, "/api/accept", {"image": paths[k % len(paths)].name,
                                          "objects": objects})
            times.append(1000 * (time.perf_counter() - start_t))
            time.sleep(0.05)  # a user's pace would be seconds; the timer fires in between
        written = (folder.accept_stats["bytes"] - before["bytes"]) / len(times)
        t0 = time.perf_counter()
        folder.flush()
        rebuild_ms = 1000 * (time.perf_counter() - t0)
    finally:
        stop(server)
    return times, written, rebuild_ms
