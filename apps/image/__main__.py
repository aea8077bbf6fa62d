"""``python -m apps.image``: see ``python -m apps.image --help``."""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from apps.image.cli import main  # noqa: E402

sys.exit(main())
