"""`python tools/build_records.py ARGS` is `segkit build-records ARGS` (segmodel.cli.build_records)."""
import sys

from segmodel.cli import run

if __name__ == "__main__":
    sys.exit(run("build-records", sys.argv[1:]))
