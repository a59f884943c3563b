"""`python tools/label_app.py ARGS` is `segkit label-app ARGS` (segmodel.cli.label_app)."""
import sys

from segmodel.cli import run

if __name__ == "__main__":
    sys.exit(run("label-app", sys.argv[1:]))
