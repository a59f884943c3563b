"""`python tools/sam_label.py ARGS` is `segkit sam-label ARGS` (segmodel.cli.sam_label)."""
import sys

from segmodel.cli import run

if __name__ == "__main__":
    sys.exit(run("sam-label", sys.argv[1:]))
