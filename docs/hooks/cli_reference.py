"""MkDocs hook: the CLI reference from the `segkit` subcommands' own argparse parsers.

`docs/reference/cli.md` holds the marker `<!-- segkit-cli -->`; this hook replaces it with one
section per subcommand of `segmodel.cli.COMMANDS`, each the subcommand's `--help` text. The
text comes from running `segmodel.cli.run(NAME, ["--help"])` (some subcommands build their
parser inside `main`), so it is always what `segkit NAME --help` prints. Nothing here needs a
network.
"""

import contextlib
import io
import os

MARKER = "<!-- segkit-cli -->"


def _help(name):
    from segmodel import cli

    out, columns = io.StringIO(), os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"  # argparse wraps to the terminal: make the page reproducible
    try:
        with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
            cli.run(name, ["--help"])
    finally:
        if columns is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = columns
    return out.getvalue().rstrip()


def cli_reference():
    """The Markdown of every subcommand's help, in COMMANDS order."""
    from segmodel import cli

    parts = []
    for name, (module, text) in cli.COMMANDS.items():
        parts += [f"## `segkit {name}`", "",
                  f"{text[0].upper()}{text[1:]}. Also `python tools/{module}.py`; "
                  f"the module is `segmodel.cli.{module}`.", "",
                  "```text", _help(name), "```", ""]
    return "\n".join(parts)


def on_page_markdown(markdown, page, config, files):
    if MARKER in markdown:
        return markdown.replace(MARKER, cli_reference())
    return markdown
