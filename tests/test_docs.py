"""The documentation site builds with `mkdocs build --strict`, offline.

Strict mode fails on a broken link between pages, a page missing from the nav, an API page whose
object griffe cannot find and a CLI section whose subcommand has no parser, so the docs cannot
silently rot. No network is needed: the theme loads no web fonts and no plugin fetches anything.
"""

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_docs_build_strict(tmp_path):
    site = tmp_path / "site"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p))
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    for page in ("index.html", "reference/cli/index.html", "reference/api/index.html",
                 "guide/data/index.html", "benchmarks/index.html"):
        assert (site / page).is_file(), page
    cli = (site / "reference/cli/index.html").read_text()
    assert "segkit train" in cli and "--records" in cli  # the generated help text is there
    assert "segkit-cli" not in cli  # the marker was replaced
    home = (site / "index.html").read_text()
    assert "make demo" in home and "segkit-readme" not in home
    api = (site / "reference/api/index.html").read_text()
    for name in ("build_records", "load_dataset", "export_saved_model", "SamPredictor",
                 "SamAutomaticMaskGenerator", "TextSegmenter"):
        assert f'id="{name}"' in api or f".{name}\"" in api, name
    for html in site.rglob("*.html"):
        assert "fonts.googleapis.com" not in html.read_text(), html
