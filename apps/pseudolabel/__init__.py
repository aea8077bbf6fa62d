"""Pseudo-labelling app: semi-supervised training over the image or tabular app's data.

The generic pieces live in `dlkeras.pseudo_labels` (selection, batch mixing,
rounds, reports); this package adds the underlying apps' data formats
(`apps.pseudolabel.sources`), their borrowed command-line flags
(`apps.pseudolabel.flags`) and the `train` command's rounds and reports
(`apps.pseudolabel.training`). Command line: `python -m apps.pseudolabel --help`.

Example:


>>> from apps.pseudolabel import PseudoLabelTrainer  # loads TensorFlow on first use
>>> PseudoLabelTrainer(rounds=1).rounds
1
"""
from apps import lazy_exports

__getattr__, __dir__ = lazy_exports(__package__, ["sources", "training"])
