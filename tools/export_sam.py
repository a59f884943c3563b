"""`python tools/export_sam.py ARGS` is `segkit export-sam ARGS` (segmodel.cli.export_sam)."""
import sys

from segmodel.cli import run

if __name__ == "__main__":
    sys.exit(run("export-sam", sys.argv[1:]))
