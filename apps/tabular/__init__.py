"""Tabular app: entity embeddings with the preprocessing inside the model.

`TabularTask` (a `dlkeras.tasks.Task`) learns from a DataFrame; its
SavedModel takes raw columns. Command line: `python -m apps.tabular --help`.

Example:

>>> import pandas as pd
>>> from apps.tabular import TabularTask  # loads TensorFlow on first use
>>> frame = pd.DataFrame({"shop": ["a", "b"] * 8, "size": [i / 2 for i in range(16)],
...                       "sold": [0, 1] * 8})
>>> task = TabularTask.from_frame(frame, "sold", layers=[4])
>>> task.roles.cat_names, task.roles.cont_names, task.roles.task
(['shop'], ['size'], 'binary')
"""
from apps import lazy_exports

__getattr__, __dir__ = lazy_exports(__package__, [
    "task", "roles", "gss", "layers", "network", "preprocessor", "interpret"])
