"""`python tools/rank.py ARGS` is `segkit rank ARGS` (segmodel.cli.rank)."""
import sys

from segmodel.cli import run

if __name__ == "__main__":
    sys.exit(run("rank", sys.argv[1:]))
