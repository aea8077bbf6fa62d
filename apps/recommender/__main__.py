"""`python -m apps.recommender`: see `apps.recommender.cli`."""
import sys

from apps.recommender.cli import main

sys.exit(main())
