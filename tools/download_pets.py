"""`python tools/download_pets.py ARGS` is `segkit download-pets ARGS` (segmodel.cli.download_pets)."""
import sys

from segmodel.cli import run

if __name__ == "__main__":
    sys.exit(run("download-pets", sys.argv[1:]))
