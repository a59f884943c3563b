"""HTTP and browser helpers shared by bench_label.py's rows (label_edits.py's too)."""

import json
import os
import statistics
import urllib.request

import numpy as np

CHROMIUM = "/usr/bin/chromium"


def post(server, path, body):
    request = urllib.request.Request(
        f"http://127.0.0.1:{server.server_address[1]}{path}", data=json.dumps(body).encode(),
        headers={"X-Segkit-Token": server.token, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=600) as answer:
        return json.load(answer)


def browser_available():
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        print("Playwright is not installed: no browser rows (pip install -e '.[dev]').")
        return False
    if not os.path.exists(CHROMIUM):
        print(f"No Chromium at {CHROMIUM}: no browser rows (apt-get install -y "
              "--no-install-recommends chromium).")
        return False
    return True


def median_ms(values):
    return statistics.median(values) if values else float("nan")


def row(name, values, extra=""):
    print(f"| {name} | {median_ms(values):.1f} | {float(np.percentile(values, 90)):.1f} | "
          f"{len(values)} | {extra} |")
