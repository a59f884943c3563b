"""`python tools/train.py ARGS` is `segkit train ARGS` (segmodel.cli.train)."""
import sys

from segmodel.cli import run

if __name__ == "__main__":
    sys.exit(run("train", sys.argv[1:]))
