"""`python -m apps.recommender`: see `python -m apps.recommender --help`."""
import sys

from apps.cli import main
from apps.recommender.cli import APP

if __name__ == "__main__":
    sys.exit(main(APP))
