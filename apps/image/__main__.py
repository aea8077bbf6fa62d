"""`python -m apps.image`: see `python -m apps.image --help`."""
import sys

from apps.cli import main
from apps.image.cli import APP

if __name__ == "__main__":
    sys.exit(main(APP))
