"""`python tools/sam_predict.py ARGS` is `segkit sam-predict ARGS` (segmodel.cli.sam_predict)."""
import sys

from segmodel.cli import run

if __name__ == "__main__":
    sys.exit(run("sam-predict", sys.argv[1:]))
