"""`python -m apps.tabular`: see `python -m apps.tabular --help`."""
import sys

from apps.cli import main
from apps.tabular.cli import APP

if __name__ == "__main__":
    sys.exit(main(APP))
