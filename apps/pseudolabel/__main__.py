"""`python -m apps.pseudolabel`: see `apps.pseudolabel.cli`."""
import sys

from apps.cli import main
from apps.pseudolabel.cli import APP

if __name__ == "__main__":
    sys.exit(main(APP))
