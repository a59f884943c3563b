"""`python tools/predict.py ARGS` is `segkit predict ARGS` (segmodel.cli.predict)."""
import sys

from segmodel.cli import run

if __name__ == "__main__":
    sys.exit(run("predict", sys.argv[1:]))
