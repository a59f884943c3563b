"""MkDocs hook: the docs home (`docs/index.md`) is the README, with its links made relative to docs/.

`docs/index.md` holds the marker `<!-- segkit-readme -->`; the README is the one copy of the front
page, so the two never drift apart.
"""

import pathlib

MARKER = "<!-- segkit-readme -->"
README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


def readme_for_docs():
    """README.md with `docs/...` links rewritten to be relative to the docs folder."""
    return README.read_text().replace("](docs/", "](")


def on_page_markdown(markdown, page, config, files):
    if MARKER in markdown:
        return markdown.replace(MARKER, readme_for_docs())
    return markdown
