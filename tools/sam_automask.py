"""`python tools/sam_automask.py ARGS` is `segkit sam-automask ARGS` (segmodel.cli.sam_automask)."""
import sys

from segmodel.cli import run

if __name__ == "__main__":
    sys.exit(run("sam-automask", sys.argv[1:]))
