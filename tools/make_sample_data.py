"""`python tools/make_sample_data.py ARGS` is `segkit make-sample-data ARGS`
(segmodel.cli.make_sample_data)."""
import sys

from segmodel.cli import run

if __name__ == "__main__":
    sys.exit(run("make-sample-data", sys.argv[1:]))
