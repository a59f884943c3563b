"""`python tools/demo.py ARGS` is `segkit demo ARGS` (segmodel.cli.demo)."""
import sys

from segmodel.cli import run

if __name__ == "__main__":
    sys.exit(run("demo", sys.argv[1:]))
