"""`python tools/data_service.py ARGS` is `segkit data-service ARGS` (segmodel.cli.data_service)."""
import sys

from segmodel.cli import run

if __name__ == "__main__":
    sys.exit(run("data-service", sys.argv[1:]))
