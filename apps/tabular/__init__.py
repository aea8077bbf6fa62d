"""Tabular app: entity embeddings with the preprocessing inside the model.

`TabularTask` (a `dlkeras.tasks.Task`) learns from a DataFrame; its
SavedModel takes raw columns. Command line: `python -m apps.tabular --help`.

Example:

>>> from apps.tabular import TabularTask  # loads TensorFlow on first use
>>> TabularTask.recipe
'fit_one_cycle'
"""
from apps import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, [
    "task", "roles", "gss", "layers", "network", "preprocessor", "interpret"])
