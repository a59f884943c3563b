"""`python -m segmodel.cli SUBCOMMAND ...` is `segkit SUBCOMMAND ...`."""
import sys

from segmodel.cli import main

sys.exit(main())
