"""`python tools/evaluate.py ARGS` is `segkit evaluate ARGS` (segmodel.cli.evaluate)."""
import sys

from segmodel.cli import run

if __name__ == "__main__":
    sys.exit(run("evaluate", sys.argv[1:]))
