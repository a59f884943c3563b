"""`python tools/export.py ARGS` is `segkit export ARGS` (segmodel.cli.export)."""
import sys

from segmodel.cli import run

if __name__ == "__main__":
    sys.exit(run("export", sys.argv[1:]))
