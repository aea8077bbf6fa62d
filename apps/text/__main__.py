"""`python -m apps.text`: see `python -m apps.text --help`."""
import sys

from apps.cli import main
from apps.text.cli import APP

if __name__ == "__main__":
    sys.exit(main(APP))
